#!/usr/bin/env python3
"""The baseline `bench_scale` compares `herald plan` with: a hand-written script that reads the
invoice reminder's CSV audience (examples/support/large_project.rs writes it) and writes the
request each recipient would get, one JSON line each. No state, no checks, no template
engine: only reading the CSV and dumping JSON, which is the least any campaign tool does.

    python3 examples/naive_plan.py AUDIENCE.csv OUT.jsonl

The requests are the shape herald sends (tests/fixtures/large/invoice-campaign.yaml), so the
two write comparable bytes.
"""

import csv
import json
import sys

PATH = "/whatsapp-api/v1.0/customer/61179/bot/bb67e0773bed4c7e/template"
BRAND = "Renuka Sugars"


def button(index, flow, response, invoice):
    payload = f"flow_{flow}||data_invoice_no={invoice}||data_response={response}"
    return {
        "type": "button",
        "sub_type": "quick_reply",
        "index": index,
        "parameters": [{"type": "payload", "payload": payload}],
    }


def request(row):
    invoice = row["invoice_no"]
    body = {
        "phoneNumber": row["phone"],
        "payload": {
            "name": "invoice_reminder",
            "namespace": "980c3243-2d2a-4d2d-a572-b2a50552cb04",
            "language": {"policy": "deterministic", "code": "en"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {
                            "type": "document",
                            "document": {
                                "link": f"https://cdn.renukasugars.example/inv/{invoice}.pdf",
                                "filename": f"invoice-{invoice}.pdf",
                            },
                        }
                    ],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": row["first_name"].title()},
                        {"type": "text", "text": invoice},
                        {"type": "text", "text": BRAND},
                    ],
                },
                button(0, "7bbb608c3b4b4e848f36cd2ccd7cfa35", "approved", invoice),
                button(1, "e30d44bcca4c49d49976d3ac0416c405", "declined", invoice),
            ],
        },
    }
    return {"method": "POST", "path": PATH, "query": [], "body": body}


def main(audience, out):
    with open(audience, newline="", encoding="utf-8") as rows, open(out, "w") as lines:
        for row in csv.DictReader(rows):
            lines.write(json.dumps(request(row), separators=(",", ":")))
            lines.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: naive_plan.py AUDIENCE.csv OUT.jsonl")
    main(sys.argv[1], sys.argv[2])
