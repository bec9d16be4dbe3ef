// The real oRPC client (@orpc/client's RPCLink, pinned in tests/package.json) against the mock
// over every route group, then through the sidecar without a key. Values JSON cannot carry
// (Date, BigInt, URL, Set, undefined) travel with the serializer's `meta`, as in any app.
// Prints one JSON line: the ids the Rust side checks.
import { createORPCClient, ORPCError } from "@orpc/client";
import { RPCLink } from "@orpc/client/fetch";

const apiUrl = process.env.LIBRETTO_API_URL.replace(/\/+$/, "");
const sidecarUrl = process.env.LIBRETTO_SIDECAR_URL.replace(/\/+$/, "");
const api = createORPCClient(
  new RPCLink({ url: `${apiUrl}/v1`, headers: { "x-api-key": process.env.LIBRETTO_API_KEY } }),
);
const app = createORPCClient(new RPCLink({ url: `${sidecarUrl}/v1` }));

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

// The call must fail with an oRPC error of this code and status; returns the error.
async function refused(call, code, status, what) {
  try {
    await call();
  } catch (error) {
    check(error instanceof ORPCError, `${what}: an ORPCError, got ${error}`);
    check(error.code === code && error.status === status, `${what}: ${error.code} ${error.status}`);
    return error;
  }
  throw new Error(`${what}: was accepted`);
}

try {
  // Credentials.
  const created = await api.credentials.create({
    name: "orpc-portal",
    credentials: { username: "orpc-user", password: "orpc-pass", rotated: new Date("2026-01-02T03:04:05.678Z") },
  });
  check(created.success === true && typeof created.credential_id === "string", "credentials.create");
  const listed = await api.credentials.list({});
  check(listed.credentials.some((c) => c.credential_id === created.credential_id), "credentials.list");
  const got = await api.credentials.get({ name: "orpc-portal" });
  check(got.value.rotated === "2026-01-02T03:04:05.678Z", `a Date inside a credential is stored as ISO: ${JSON.stringify(got.value)}`);
  check((await api.credentials.update({ id: created.credential_id, credentials: { password: "orpc-pass-2" } })).success, "credentials.update");
  const dated = await refused(() => api.credentials.create({ name: new Date(), credentials: {} }), "BAD_REQUEST", 400, "a Date name");
  check(dated.message === "Input validation failed", dated.message);
  const issue = dated.data.issues[0];
  check(JSON.stringify(issue.path) === '["name"]' && issue.received === "date" && issue.expected === "string", JSON.stringify(issue));
  const spare = await api.credentials.create({ name: "orpc-spare", credentials: { a: "b" } });
  check((await api.credentials.delete({ id: spare.credential_id })).success, "credentials.delete");

  // Jobs and logs.
  const job = await api.jobs.create({
    workflow: "portal-login",
    params: { since: new Date("2026-05-17T01:15:26.670Z"), site: new URL("https://portal.example.com/a b"), tags: new Set(["x"]), list: ["a", undefined] },
    skip_callbacks: true,
  });
  check(job.success === true && job.status === "queued", `jobs.create: ${JSON.stringify(job)}`);
  const stored = await api.jobs.get({ id: job.job_id });
  check(
    JSON.stringify(stored.params) ===
      JSON.stringify({ since: "2026-05-17T01:15:26.670Z", site: "https://portal.example.com/a%20b", tags: {}, list: ["a", null] }),
    `jobs.get params: ${JSON.stringify(stored.params)}`,
  );
  check((await api.jobs.list({ limit: 5 })).jobs.some((j) => j.job_id === job.job_id), "jobs.list");
  const big = await refused(() => api.jobs.create({ workflow: "w", params: {}, timeout_seconds: 60n }), "BAD_REQUEST", 400, "a BigInt timeout");
  check(big.data.issues[0].received === "bigint", JSON.stringify(big.data));
  await refused(() => api.jobs.debugReport({ id: job.job_id }), "CONFLICT", 409, "the debug report of a queued job");
  check((await api.jobs.cancel({ id: job.job_id })).success, "jobs.cancel");
  const logs = await api.logs.list({ jobId: job.job_id });
  check(Array.isArray(logs.logs), "logs.list");
  await refused(() => api.jobs.get({ id: "not-a-uuid" }), "BAD_REQUEST", 400, "jobs.get of a bad id");

  // Webhooks.
  // zod sees a URL object as an object, not a string.
  const urlObject = await refused(() => api.webhooks.create({ url: new URL("https://hooks.example.com/libretto"), signing_secret: "s" }), "BAD_REQUEST", 400, "a URL object");
  check(urlObject.data.issues[0].received === "object", JSON.stringify(urlObject.data));
  const hook = await api.webhooks.create({ url: "https://hooks.example.com/libretto", signing_secret: "orpc-signing" });
  check(hook.success === true, "webhooks.create");
  const hooks = await api.webhooks.list({});
  check(
    hooks.webhook_endpoints.some((h) => h.webhook_endpoint_id === hook.webhook_endpoint_id && h.url === "https://hooks.example.com/libretto"),
    `webhooks.list: ${JSON.stringify(hooks)}`,
  );
  check((await api.webhooks.update({ id: hook.webhook_endpoint_id, active: false })).success, "webhooks.update");
  check((await api.webhooks.delete({ id: hook.webhook_endpoint_id })).success, "webhooks.delete");

  // Schedules.
  const schedule = (await api.schedules.create({ workflow: "portal-login", params: { at: new Date("2026-01-01T00:00:00.000Z") }, cron_expr: "0 * * * *" })).schedule;
  check(schedule.params.at === "2026-01-01T00:00:00.000Z", `schedules.create: ${JSON.stringify(schedule)}`);
  check((await api.schedules.list({})).schedules.some((s) => s.id === schedule.id), "schedules.list");
  check((await api.schedules.get({ id: schedule.id })).schedule.id === schedule.id, "schedules.get");
  check((await api.schedules.update({ id: schedule.id, enabled: false })).schedule.enabled === false, "schedules.update");
  check((await api.schedules.delete({ id: schedule.id })).success, "schedules.delete");
  await refused(() => api.schedules.get({ id: schedule.id }), "NOT_FOUND", 404, "a deleted schedule");

  // Through the sidecar: placeholders, no key, and `meta` kept beside the rewritten params.
  const viaSidecar = await app.jobs.create({
    workflow: "portal-login",
    params: { username: "{{credential:portal-production/username}}", password: "{{credential:portal-production/password}}", since: new Date("2026-05-17T01:15:26.670Z") },
  });
  check(viaSidecar.success === true, `jobs.create through the sidecar: ${JSON.stringify(viaSidecar)}`);
  const seen = await app.jobs.get({ id: viaSidecar.job_id });
  check(seen.params.since === "2026-05-17T01:15:26.670Z", `jobs.get through the sidecar: ${JSON.stringify(seen.params)}`);
  await refused(() => app.credentials.create({ name: new Date(), credentials: {} }), "BAD_REQUEST", 400, "a Date name through the sidecar");

  console.log(JSON.stringify({ sidecar_job_id: viaSidecar.job_id, credential_id: created.credential_id }));
} catch (error) {
  console.error(`${error.stack}\ndata: ${JSON.stringify(error?.data)}`);
  process.exit(1);
}
