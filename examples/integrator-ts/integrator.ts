// An example integrator in TypeScript: follows Tsunagu's INTAKE stream with its own durable
// consumer and keeps its own counts of consultations per centre and fiscal year.
//
// Deliberately independent of Tsunagu's code: the official `nats` client and Node's standard
// library only; it reads the CloudEvents as documented in openapi/asyncapi.yaml. Its state is a
// JSON file written whole after each batch (a real system would use its database): the counts and
// the ids of the events applied, so a redelivered or re-published event counts once.
//
//   npm ci && npm run build
//   node dist/integrator.js --nats nats://127.0.0.1:4222 --state integrator.json [--from-start]
//
// The durable `integrator-intake` lives on the NATS server, not in the state file: it remembers
// what it delivered to any earlier run, so a new state file gets only what comes next.
// `--from-start` deletes the durable first and reads the stream from its first message.

import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AckPolicy, DeliverPolicy, NatsError, connect, type JsMsg } from "nats";

const STREAM = "INTAKE";
const DURABLE = "integrator-intake"; // integrators name their durables integrator-<stream>
const CONSUMER_NOT_FOUND = 10014; // JetStream's error code

interface CloudEvent {
  id: string;
  type: string; // jp.tsunagu.intake.ConsultationRecorded.v2
  subject: string;
  time: string;
  tenant: string;
  sequence: number;
  data: Record<string, unknown>;
  traceparent?: string; // W3C trace context of the publishing relay, when traced
}

interface State {
  seen: string[];
  consultations: Record<string, Record<string, number>>; // centre id → fiscal year → count
}

function load(path: string): State {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as State) : { seen: [], consultations: {} };
}

function save(path: string, state: State): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${path}.tmp`, path); // whole or not at all
}

/** April–March in Japan time (UTC+9). */
export function fiscalYear(iso: string): number {
  const jst = new Date(new Date(iso).getTime() + 9 * 3600 * 1000);
  const year = jst.getUTCFullYear();
  return jst.getUTCMonth() >= 3 ? year : year - 1;
}

/** One CloudEvent, once: its id makes a redelivery or a re-publish harmless. */
function apply(state: State, seen: Set<string>, event: CloudEvent): void {
  if (seen.has(event.id)) return;
  seen.add(event.id);
  state.seen.push(event.id);
  const name = event.type.split(".")[3];
  if (name === "ConsultationRecorded") {
    const centre = String(event.data.centre_id);
    const fy = String(fiscalYear(String(event.data.occurred_at)));
    const counts = (state.consultations[centre] ??= {});
    counts[fy] = (counts[fy] ?? 0) + 1;
  }
  // ConsultationVoided: a fuller integrator would find the voided consultation and subtract it
}

function notFound(e: unknown): boolean {
  return e instanceof NatsError && (e.api_error?.err_code === CONSUMER_NOT_FOUND || e.code === "404");
}

export async function run(natsUrl: string, statePath: string, opts: { idleMs?: number; fromStart?: boolean } = {}) {
  const idleMs = opts.idleMs ?? 2000;
  const state = load(statePath);
  const seen = new Set(state.seen);
  const nc = await connect({ servers: natsUrl });
  let handled = 0;
  try {
    const jsm = await nc.jetstreamManager();
    let info = null;
    try {
      info = await jsm.consumers.info(STREAM, DURABLE);
    } catch (e) {
      if (!notFound(e)) throw e;
    }
    if (info && opts.fromStart) {
      await jsm.consumers.delete(STREAM, DURABLE);
      info = null;
    } else if (info && seen.size === 0 && info.delivered.stream_seq > 0) {
      console.error(`note: the durable ${DURABLE} already delivered the stream up to message ` +
        `${info.delivered.stream_seq} to an earlier run; this state file is new, so it receives only later ` +
        "events. Run with --from-start to read the stream from its first message.");
    }
    if (!info) {
      await jsm.consumers.add(STREAM, {
        durable_name: DURABLE, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
        filter_subject: "intake.>",
      });
    }
    const consumer = await nc.jetstream().consumers.get(STREAM, DURABLE);
    for (;;) {
      const batch: JsMsg[] = [];
      for await (const m of await consumer.fetch({ max_messages: 100, expires: idleMs })) batch.push(m);
      if (batch.length === 0) return handled;
      for (const m of batch) apply(state, seen, m.json<CloudEvent>());
      save(statePath, state); // commit first …
      for (const m of batch) m.ack(); // … then ack: a crash in between redelivers, and `seen` skips them
      handled += batch.length;
    }
  } finally {
    await nc.drain(); // flushes the acks
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nats: { type: "string", default: "nats://127.0.0.1:4222" },
      state: { type: "string", default: "integrator.json" },
      "from-start": { type: "boolean", default: false },
      "idle-ms": { type: "string", default: "2000" },
    },
  });
  const handled = await run(values.nats!, values.state!, {
    fromStart: values["from-start"], idleMs: Number(values["idle-ms"]),
  });
  console.log(`handled ${handled} events`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
