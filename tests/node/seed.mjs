// The credentials page's TypeScript example as JavaScript (Node 20, global fetch), unchanged
// except that the base URL comes from LIBRETTO_API_URL, and that it checks the job was created
// (printing its id) instead of ignoring the answer.
const baseUrl = (process.env.LIBRETTO_API_URL ?? "https://api.libretto.sh").replace(/\/+$/, "");

const apiKey = process.env.LIBRETTO_API_KEY;
if (!apiKey) throw new Error("LIBRETTO_API_KEY is required");

const credentialResponse = await fetch(
  `${baseUrl}/v1/credentials/get`,
  {
    method: "POST",
    headers: {
      "x-api-key": apiKey,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({
      json: { name: "portal-production" },
    }),
  },
);

const credentialBody = await credentialResponse.json();
const credential = credentialBody.json.value;

const jobResponse = await fetch(`${baseUrl}/v1/jobs/create`, {
  method: "POST",
  headers: {
    "x-api-key": apiKey,
    "Content-Type": "application/json",
  },
  body: JSON.stringify({
    json: {
      workflow: "portal-login",
      params: {
        memberId: "12345",
        username: credential.username,
        password: credential.password,
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
