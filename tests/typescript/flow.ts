/**
 * A TypeScript client author's flow: types generated from openapi/openapi.yaml by openapi-typescript
 * (build/openapi.d.ts), requests made by openapi-fetch, against a running server.
 *
 * register, verify the email with the token from the emailed link, log in, a project and a
 * milestone created, listed, read, changed and deleted, the typed 404 (and 409, 400, 401),
 * refresh with the body token, logout. Every step checks its answer; the first mismatch throws,
 * and the process exits non-zero.
 *
 * Environment: CAIRN_BASE_URL, the server's root (http://127.0.0.1:8000); CAIRN_MAIL_DIR, the
 * folder where the server's `file` email backend writes its `.eml` files (var/mail under
 * `make run`): the verification link is read from there.
 *
 * Nothing here names a schema component: request and response types come from `paths`.
 */
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import createClient from "openapi-fetch";

import type { paths } from "./build/openapi.js";

const MAIL_WAIT_MS = 20_000;

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${what}`);
}

function same<T>(actual: T, expected: T, what: string): void {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  check(a === e, `${what}: expected ${e}, got ${a}`);
}

/** What openapi-fetch resolves to: `data` on a 2xx, `error` (the parsed error body) otherwise. */
interface Answer<D, E> {
  data?: D;
  error?: E;
  response: Response;
}

function describe(answer: Answer<unknown, unknown>): string {
  return `${answer.response.status} ${JSON.stringify(answer.error ?? answer.data ?? null)}`;
}

/** The body of a success with exactly this status. */
async function expectData<D, E>(call: Promise<Answer<D, E>>, status: number, step: string): Promise<D> {
  const answer = await call;
  if (answer.response.status !== status || answer.data === undefined) {
    throw new Error(`${step}: expected ${status}, got ${describe(answer)}`);
  }
  return answer.data;
}

/** A success without a body (204). */
async function expectNoContent(call: Promise<Answer<unknown, unknown>>, step: string): Promise<void> {
  const answer = await call;
  if (answer.response.status !== 204) throw new Error(`${step}: expected 204, got ${describe(answer)}`);
}

/**
 * An error with this status and code. `code` is typed from the operation's error bodies, so a
 * code the spec does not declare for this operation does not compile.
 */
async function expectError<E extends { error: { code: string } }>(
  call: Promise<Answer<unknown, E>>,
  status: number,
  code: E["error"]["code"],
  step: string,
): Promise<E> {
  const answer = await call;
  if (answer.response.status !== status || answer.error?.error.code !== code) {
    throw new Error(`${step}: expected ${status} ${code}, got ${describe(answer)}`);
  }
  return answer.error;
}

/** The token of the `…/verify-email?token=…` link in the newest email to `to` (7bit ASCII: greppable). */
async function verificationToken(mailDir: string, to: string): Promise<string> {
  const deadline = Date.now() + MAIL_WAIT_MS;
  for (;;) {
    const names = (await readdir(mailDir).catch(() => [] as string[])).filter((name) => name.endsWith(".eml"));
    for (const name of names) {
      const raw = await readFile(join(mailDir, name), "utf8");
      const headers = raw.split(/\r?\n\r?\n/, 1)[0] ?? "";
      if (!headers.split(/\r?\n/).some((line) => line.toLowerCase() === `to: ${to}`)) continue;
      const tokens = new Set(Array.from(raw.matchAll(/\/verify-email\?token=([A-Za-z0-9_-]+)/g), (match) => match[1]));
      const [token, ...others] = tokens;
      if (token !== undefined) {
        check(others.length === 0, `one verification token in ${name} (text and HTML alike), found ${tokens.size}`);
        return token;
      }
    }
    if (Date.now() > deadline) throw new Error(`no verification email to ${to} in ${mailDir} after ${MAIL_WAIT_MS} ms`);
    await sleep(100);
  }
}

function step(what: string): void {
  console.log(`ok   ${what}`);
}

async function main(): Promise<void> {
  const baseUrl = setting("CAIRN_BASE_URL");
  const mailDir = setting("CAIRN_MAIL_DIR");
  const anonymous = createClient<paths>({ baseUrl });
  const as = (accessToken: string) =>
    createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${accessToken}` } });
  const email = `ts-client-${randomUUID().slice(0, 12)}@example.com`;
  const password = "Typed-Client-7";

  // Register, then verify the address with the emailed token (once: a second use is 400).
  const registered = await expectData(
    anonymous.POST("/api/v1/auth/register", { body: { email, password, name: "Tess Script" } }),
    201,
    "register",
  );
  same([registered.user.email, registered.user.emailVerified], [email, false], "registered user");
  step("register");

  const token = await verificationToken(mailDir, email);
  const verified = await expectData(anonymous.POST("/api/v1/auth/verify-email", { body: { token } }), 200, "verify");
  same(verified.emailVerified, true, "verified user");
  await expectError(
    anonymous.POST("/api/v1/auth/verify-email", { body: { token } }),
    400,
    "INVALID_TOKEN",
    "verify twice",
  );
  step("verify email with the token from the mail folder");

  const login = await expectData(anonymous.POST("/api/v1/auth/login", { body: { email, password } }), 200, "login");
  same(login.user.emailVerified, true, "logged-in user is verified");
  let api = as(login.tokens.accessToken);
  step("login");

  // Projects: create (Location names it), list by search and by cursor, read, change.
  const createdProject = await api.POST("/api/v1/projects", {
    body: { name: "Summit route survey", description: "North ridge." },
  });
  const project = await expectData(Promise.resolve(createdProject), 201, "create project");
  same([project.status, project.description], ["active", "North ridge."], "new project");
  check(
    createdProject.response.headers.get("Location")?.endsWith(`/api/v1/projects/${project.id}`) === true,
    `Location of the new project: ${createdProject.response.headers.get("Location")}`,
  );
  const hut = await expectData(api.POST("/api/v1/projects", { body: { name: "Summit hut" } }), 201, "create second");
  const listed = await expectData(
    api.GET("/api/v1/projects", { params: { query: { search: "summit", sort: "-createdAt" } } }),
    200,
    "list projects",
  );
  same(
    [listed.data.map((item) => item.id), listed.meta.total],
    [[hut.id, project.id], 2],
    "projects found by search, newest first",
  );
  const firstPage = await expectData(
    api.GET("/api/v1/projects", { params: { query: { search: "summit", limit: 1 } } }),
    200,
    "first page",
  );
  const cursor = firstPage.meta.nextCursor;
  check(cursor !== null, "a first page of one has a next cursor");
  const nextPage = await expectData(
    api.GET("/api/v1/projects", { params: { query: { cursor, limit: 1 } } }),
    200,
    "page by cursor",
  );
  same(
    [firstPage.data[0]?.id, nextPage.data[0]?.id, nextPage.meta.total],
    [hut.id, project.id, undefined],
    "cursor walk (a cursor page counts nothing)",
  );
  const projectPath = { params: { path: { projectId: project.id } } };
  const fresh = await expectData(api.GET("/api/v1/projects/{projectId}", projectPath), 200, "get project");
  same([fresh.name, fresh.milestones], ["Summit route survey", []], "a new project, without milestones");
  const changed = await expectData(
    api.PATCH("/api/v1/projects/{projectId}", { ...projectPath, body: { status: "inactive", description: null } }),
    200,
    "patch project",
  );
  same([changed.status, changed.description], ["inactive", null], "changed project");
  // Entity tags: revalidate with If-None-Match (304), change only the version held with If-Match.
  const held = await api.GET("/api/v1/projects/{projectId}", projectPath);
  const tag = held.response.headers.get("ETag");
  check(tag !== null, "a project answer carries its ETag");
  const revalidated = await api.GET("/api/v1/projects/{projectId}", {
    params: { path: { projectId: project.id }, header: { "If-None-Match": tag } },
  });
  same(revalidated.response.status, 304, "If-None-Match with the current tag");
  const ifMatch = { params: { path: { projectId: project.id }, header: { "If-Match": tag } } };
  const renamed = await api.PATCH("/api/v1/projects/{projectId}", { ...ifMatch, body: { name: "Summit route survey" } });
  same(renamed.response.status, 200, "If-Match with the current tag");
  await expectError(
    api.PATCH("/api/v1/projects/{projectId}", { ...ifMatch, body: { name: "Lost update" } }),
    412,
    "PRECONDITION_FAILED",
    "If-Match with a stale tag",
  );
  step("project create, list (search and cursor), get, patch, conditional get and patch");

  // Milestones: create, list, read, change, delete; a deleted one is a 404.
  const milestone = await expectData(
    api.POST("/api/v1/projects/{projectId}/milestones", {
      ...projectPath,
      body: { title: "Scout the approach", dueDate: "2026-12-15" },
    }),
    201,
    "create milestone",
  );
  same([milestone.projectId, milestone.dueDate, milestone.status], [project.id, "2026-12-15", "open"], "new milestone");
  const milestonesListed = await expectData(
    api.GET("/api/v1/projects/{projectId}/milestones", projectPath),
    200,
    "list milestones",
  );
  same(milestonesListed.data.map((item) => item.id), [milestone.id], "milestones listed");
  const milestonePath = { params: { path: { projectId: project.id, milestoneId: milestone.id } } };
  const fetched = await expectData(
    api.GET("/api/v1/projects/{projectId}/milestones/{milestoneId}", milestonePath),
    200,
    "get milestone",
  );
  same(fetched.title, "Scout the approach", "milestone title");
  const done = await expectData(
    api.PATCH("/api/v1/projects/{projectId}/milestones/{milestoneId}", { ...milestonePath, body: { status: "done" } }),
    200,
    "patch milestone",
  );
  same(done.status, "done", "milestone status");
  const detail = await expectData(api.GET("/api/v1/projects/{projectId}", projectPath), 200, "project detail");
  same(detail.milestones.map((item) => [item.id, item.status]), [[milestone.id, "done"]], "embedded milestones");
  await expectNoContent(
    api.DELETE("/api/v1/projects/{projectId}/milestones/{milestoneId}", milestonePath),
    "delete milestone",
  );
  await expectError(
    api.GET("/api/v1/projects/{projectId}/milestones/{milestoneId}", milestonePath),
    404,
    "NOT_FOUND",
    "get deleted milestone",
  );
  step("milestone create, list, get, patch, delete");

  // Deleting a project with live milestones: 409 without cascade, 204 with it.
  const hutPath = { params: { path: { projectId: hut.id } } };
  await expectData(
    api.POST("/api/v1/projects/{projectId}/milestones", { ...hutPath, body: { title: "Carry the beams" } }),
    201,
    "milestone of the second project",
  );
  await expectError(api.DELETE("/api/v1/projects/{projectId}", hutPath), 409, "CONFLICT", "delete without cascade");
  await expectNoContent(
    api.DELETE("/api/v1/projects/{projectId}", { params: { ...hutPath.params, query: { cascade: true } } }),
    "delete with cascade",
  );
  await expectNoContent(api.DELETE("/api/v1/projects/{projectId}", projectPath), "delete project");

  // The typed 404: `error` is the operation's error body, narrowed on its code.
  for (const projectId of [project.id, randomUUID()]) {
    const gone = await api.GET("/api/v1/projects/{projectId}", { params: { path: { projectId } } });
    if (gone.error === undefined) throw new Error(`get ${projectId}: expected 404, got ${describe(gone)}`);
    if (gone.error.error.code !== "NOT_FOUND") throw new Error(`get ${projectId}: ${describe(gone)}`);
    const code: "NOT_FOUND" = gone.error.error.code; // compiles only because the check above narrowed it
    same([gone.response.status, code], [404, "NOT_FOUND"], "deleted or unknown project");
  }
  step("projects deleted (409 without cascade), then a typed 404");

  // Refresh with the body token: a new pair for the same session; the old refresh token is spent.
  const refreshed = await expectData(
    anonymous.POST("/api/v1/auth/refresh", { body: { refreshToken: login.tokens.refreshToken } }),
    200,
    "refresh",
  );
  check(refreshed.tokens.refreshToken !== login.tokens.refreshToken, "refresh rotates the refresh token");
  api = as(refreshed.tokens.accessToken);
  const me = await expectData(api.GET("/api/v1/users/me"), 200, "me after refresh");
  same([me.email, me.emailVerified], [email, true], "me");
  step("refresh (body token)");

  // Logout ends the session: its access and refresh tokens are refused.
  await expectNoContent(api.POST("/api/v1/auth/logout", { body: { scope: "local" } }), "logout");
  await expectError(api.GET("/api/v1/users/me"), 401, "UNAUTHORIZED", "me after logout");
  await expectError(
    anonymous.POST("/api/v1/auth/refresh", { body: { refreshToken: refreshed.tokens.refreshToken } }),
    401,
    "UNAUTHORIZED",
    "refresh after logout",
  );
  step("logout");
  console.log("the TypeScript client flow passed");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
