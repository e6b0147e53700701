-- Load test of the emulator's template endpoint (see docs/emulator.md, "Performance"):
--   target/release/herald emulator --addr 127.0.0.1:8787 2>/dev/null &
--   wrk -t2 -c64 -d10s -s examples/emulator_wrk.lua http://127.0.0.1:8787
-- Every request is a valid invoice_reminder message of the built-in seed, so each one is
-- checked, recorded and answered 200; any other answer shows up in wrk's "Non-2xx" line.
wrk.method = "POST"
wrk.path = "/whatsapp-api/v1.0/customer/61179/bot/bb67e0773bed4c7e/template"
wrk.headers["Authorization"] = "Basic emulator-key"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"phoneNumber":"+919019486731","payload":{"name":"invoice_reminder","namespace":"980c3243-2d2a-4d2d-a572-b2a50552cb04","language":{"policy":"deterministic","code":"en"},"components":[{"type":"header","parameters":[{"type":"document","document":{"link":"https://cdn.renukasugars.example/inv/12345.pdf","filename":"invoice-12345.pdf"}}]},{"type":"body","parameters":[{"type":"text","text":"John"},{"type":"text","text":"12345"},{"type":"text","text":"Renuka Sugars"}]},{"type":"button","sub_type":"quick_reply","index":0,"parameters":[{"type":"payload","payload":"flow_7bbb608c3b4b4e848f36cd2ccd7cfa35||data_response=approved"}]},{"type":"button","sub_type":"quick_reply","index":1,"parameters":[{"type":"payload","payload":"flow_e30d44bcca4c49d49976d3ac0416c405||data_response=declined"}]}]}}]]

