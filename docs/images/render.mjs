// Renders docs/images' sources to PNG in headless Chromium (run by make.sh, which installs
// what this needs):
//
//   node render.mjs comment  plan-comment.md     plan-comment.png
//   node render.mjs terminal plan-terminal.html  plan-terminal.png  "herald plan …"
//
// `comment`: the Markdown as GitHub shows a pull-request comment (marked, GFM, with
// github-markdown-css), one campaign's <details> opened. `terminal`: aha's HTML of the
// colored plan (`aha --no-header --stylesheet`), in a dark terminal window, after a prompt
// with the command that printed it.
// CHROMIUM names the browser (default /usr/bin/chromium).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { marked } from "marked";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const [mode, input, output, command = "herald plan"] = process.argv.slice(2);
if (!["comment", "terminal"].includes(mode) || !input || !output) {
  console.error("usage: node render.mjs comment|terminal INPUT OUTPUT.png");
  process.exit(2);
}
const source = readFileSync(input, "utf8");

// The campaign whose collapsible section is shown open in the comment.
const OPEN = "invoice-reminder-dec";

function commentPage() {
  const css = readFileSync(require.resolve("github-markdown-css/github-markdown-light.css"), "utf8");
  const body = marked.parse(source, { gfm: true }).replace(
    `<details><summary>${OPEN}`,
    `<details open><summary>${OPEN}`,
  );
  return `<!doctype html><html><head><meta charset="utf-8"><style>${css}
    html, body { margin: 0; background: #fff; }
    #shot { width: 1000px; padding: 16px; box-sizing: border-box; }
    .comment { border: 1px solid #d1d9e0; border-radius: 6px; overflow: hidden; }
    .comment-header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px;
      font: 14px -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
      color: #59636e; }
    .comment-header b { color: #1f2328; }
    .bot { border: 1px solid #d1d9e0; border-radius: 2em; padding: 0 7px; font-size: 12px; margin: 0 4px; }
    .markdown-body { padding: 16px; font-size: 14px; }
  </style></head><body><div id="shot"><div class="comment">
    <div class="comment-header"><b>github-actions</b><span class="bot">bot</span> commented</div>
    <div class="markdown-body">${body}</div>
  </div></div></body></html>`;
}

function escape(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function terminalPage() {
  return `<!doctype html><html><head><meta charset="utf-8"><style>
    html, body { margin: 0; background: #fff; }
    #shot { width: 980px; padding: 16px; box-sizing: border-box; }
    .window { background: #1e1e2e; border-radius: 8px; overflow: hidden;
      box-shadow: 0 4px 14px rgba(0, 0, 0, 0.25); }
    .bar { background: #313244; padding: 8px 12px; display: flex; gap: 8px; align-items: center; }
    .dot { width: 12px; height: 12px; border-radius: 50%; display: inline-block; }
    .title { color: #a6adc8; font: 12px "DejaVu Sans", sans-serif; margin-left: 12px; }
    pre { margin: 0; padding: 14px 16px; color: #cdd6f4; white-space: pre-wrap;
      font: 12px/1.45 "DejaVu Sans Mono", monospace; }
    .prompt { color: #a6e3a1; }
    /* aha's classes for the SGR codes herald writes (make.sh turns faint into dark gray) */
    .bold { font-weight: bold; color: #ffffff; }
    .red { color: #f38ba8; } .green { color: #a6e3a1; } .yellow { color: #f9e2af; }
    .blue { color: #89b4fa; } .purple { color: #cba6f7; } .cyan { color: #94e2d5; }
    .dimgray { color: #7f849c; }
  </style></head><body><div id="shot"><div class="window">
    <div class="bar"><span class="dot" style="background:#f38ba8"></span><span class="dot"
      style="background:#f9e2af"></span><span class="dot" style="background:#a6e3a1"></span>
      <span class="title">herald plan</span></div>
    <pre><span class="prompt">$</span> ${escape(command)}\n${source}</pre>
  </div></div></body></html>`;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--font-render-hinting=none"],
});
const page = await browser.newPage({ viewport: { width: 1000, height: 600 }, deviceScaleFactor: 1 });
await page.setContent(mode === "comment" ? commentPage() : terminalPage());
await page.locator("#shot").screenshot({ path: output });
await browser.close();
