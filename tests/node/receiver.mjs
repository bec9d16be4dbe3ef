import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";

const secret = process.env.WEBHOOK_SECRET ?? "my-signing-secret";
const port = Number(process.argv[2] ?? 4000);
const events = Number(process.argv[3] ?? Infinity); // exit after this many verified events
let verified = 0;

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const expected = createHmac("sha256", secret).update(body).digest();
    const given = Buffer.from(String(req.headers["x-webhook-signature"] ?? ""), "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      console.log("rejected", req.headers["x-event-type"]);
      res.writeHead(401).end();
      return;
    }
    const event = JSON.parse(body.toString("utf8"));
    console.log("verified", req.headers["x-event-type"], event.job_id, event.status);
    res.writeHead(204).end(() => {
      if (++verified >= events) process.exit(0);
    });
  });
});
server.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
