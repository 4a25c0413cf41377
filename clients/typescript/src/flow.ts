// A portal's whole flow through a client generated from the committed OpenAPI documents:
// openapi-typescript turns openapi/intake.yaml and openapi/reporting.yaml into types
// (generated/*.ts, `npm run generate`), openapi-fetch makes the calls, and tsc checks every path,
// parameter and body against those types (`npm run build`). centre → case → consultation →
// consent → referral → report. Run by tests/clients/test_typescript_client.py against running
// services; a portal vendor can copy it (a real portal gets its tokens from the OIDC issuer).
import createClient from "openapi-fetch";
import { createHmac } from "node:crypto";
import type { paths as IntakePaths } from "../generated/intake.js";
import type { paths as ReportingPaths } from "../generated/reporting.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// A development token (HS256 with the services' dev secret), as `tsunagu token` mints one.
function token(role: string, org: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
    sub: "ts-portal", org, roles: [role], iss: env("JWT_ISSUER"), iat: now, exp: now + 3600,
  })}`;
  return `${unsigned}.${createHmac("sha256", env("JWT_SECRET")).update(unsigned).digest("base64url")}`;
}

const intake = (role: string, org: string) =>
  createClient<IntakePaths>({ baseUrl: env("INTAKE_URL"), headers: { Authorization: `Bearer ${token(role, org)}` } });

function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) {
    throw new Error(`${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

async function main(): Promise<void> {
  const pref = "130001";
  const officer = intake("prefecture_officer", pref);
  const categories = ok(await officer.GET("/v1/code-lists/{name}", {
    params: { path: { name: "agency-categories" } } }), "code list");
  if (!categories.codes.some((c) => c.code === "hello_work")) throw new Error("hello_work is not a category");

  const centre = ok(await officer.POST("/v1/centres", {
    params: { header: { "Idempotency-Key": "ts-centre" } },
    body: { name: "東京都ひきこもりサポートネット", kind: "adult", prefecture: pref },
  }), "centre");
  const agency = ok(await officer.POST("/v1/agencies", {
    params: { header: { "Idempotency-Key": "ts-agency" } },
    body: { name: "ハローワーク飯田橋", category: "hello_work", municipality: "131016", address: "東京都千代田区1-1",
            phone: "03-1111-1111" },
  }), "agency");

  const staff = intake("centre_staff", centre.id);
  const kase = ok(await staff.POST("/v1/cases", {
    params: { header: { "Idempotency-Key": "ts-case" } },
    body: { centre_id: centre.id, client_kind: "family", age_group: "adult", personal_details: { name: "山田太郎" } },
  }), "case");
  const path = { case_id: kase.id };
  const consultation = ok(await staff.POST("/v1/cases/{case_id}/consultations", {
    params: { path, header: { "Idempotency-Key": "ts-consultation" } },
    body: { channel: "phone", occurred_at: "2016-06-01T10:00:00+09:00", summary: "母親から電話相談" },
  }), "consultation");
  const consentBody = { agency_ids: [agency.id], items: ["name", "contact"] as ("name" | "contact")[],
                        explained_on: "2016-06-01", consent_text_version: "v1" };
  const consent = ok(await staff.POST("/v1/cases/{case_id}/share-consents", {
    params: { path, header: { "Idempotency-Key": "ts-consent" } }, body: consentBody }), "consent");
  const retried = await staff.POST("/v1/cases/{case_id}/share-consents", {
    params: { path, header: { "Idempotency-Key": "ts-consent" } }, body: consentBody });
  if (retried.response.status !== 200 || retried.data?.consent_id !== consent.consent_id) {
    throw new Error(`a retried consent was not answered with the first: ${retried.response.status}`);
  }
  const made = await staff.POST("/v1/cases/{case_id}/referrals", {
    params: { path, header: { "Idempotency-Key": "ts-referral" } },
    body: { agency_id: agency.id, items: ["name"], referred_on: "2016-06-02" },
  });
  const referral = ok(made, "referral");
  if (!made.response.headers.get("location")?.endsWith(referral.referral_id)) throw new Error("no Location");

  const reporting = createClient<ReportingPaths>({
    baseUrl: env("REPORTING_URL"), headers: { Authorization: `Bearer ${token("ministry", "mhlw")}` } });
  for (let attempt = 0; attempt < 600; attempt++) { // the report follows the bus: wait for it
    const report = await reporting.GET("/v1/reports/referrals", { params: { query: { fy: 2016 } } });
    if (report.data && report.data.summary.total === 1) {
      const helloWork = report.data.summary.columns.find((c) => c.code === "hello_work");
      console.log(JSON.stringify({ centre: centre.id, case: kase.id, consultation: consultation.id,
                                   consent: consent.consent_id, referral: referral.referral_id,
                                   label: report.data.label, hello_work: helloWork?.count }));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the referral never reached the ministry's table");
}

main().catch((e) => { console.error(e); process.exit(1); });
