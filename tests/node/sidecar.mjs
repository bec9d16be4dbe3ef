// The credentials page's example rewritten for the sidecar (Node 20, global fetch): the app
// sends jobs/create to the sidecar with placeholders where the secrets were, and holds no API
// key and no credential value at any point. It prints the id of the job it created.
const sidecarUrl = (process.env.LIBRETTO_SIDECAR_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");

if (process.env.LIBRETTO_API_KEY) throw new Error("the app must not hold an API key");

const jobResponse = await fetch(`${sidecarUrl}/v1/jobs/create`, {
  method: "POST",
  headers: {
    "Content-Type": "application/json",
  },
  body: JSON.stringify({
    json: {
      workflow: "portal-login",
      params: {
        memberId: "12345",
        username: "{{credential:portal-production/username}}",
        password: "{{credential:portal-production/password}}",
      },
    },
  }),
});

const jobBody = await jobResponse.json();
if (!jobResponse.ok || jobBody?.json?.success !== true || typeof jobBody.json.job_id !== "string") {
  console.error(`job was not created: HTTP ${jobResponse.status} ${JSON.stringify(jobBody)}`);
  process.exit(1);
}
console.log(jobBody.json.job_id);
