// A third-party GraphQL websocket client for the realtime tests: graphql-ws over ws, as a browser or
// mobile app would use it, so that Xueji's socket is checked against someone else's reading of the
// graphql-transport-ws protocol rather than only against our own Python frames.
//
//   node subscribe.mjs --url ws://127.0.0.1:8000/graphql --query 'subscription { ... }'
//                      [--token T] [--variables '{"after": 0}'] [--events N]
//
// Each option may come from the environment instead: XUEJI_WS_URL, XUEJI_WS_TOKEN, XUEJI_WS_QUERY,
// XUEJI_WS_VARIABLES, XUEJI_WS_EVENTS (the token is best passed that way, out of the process list).
//
// stdout, one JSON object a line: {"ready": true} once the server acknowledged the connection, then each
// execution result as received ({"data": ...} or {"errors": ...}). Exit 0 after N results (N = 0: until
// the server completes the subscription). Any failure, including a refused connection, exits 1 with one
// JSON line on stderr: {"error": {"close": {"code": 4403, "reason": "Forbidden"}}} or
// {"error": {"errors": [...]}} or {"error": {"message": "..."}}.

import { parseArgs } from "node:util";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: process.env.XUEJI_WS_URL },
      token: { type: "string", default: process.env.XUEJI_WS_TOKEN },
      query: { type: "string", default: process.env.XUEJI_WS_QUERY },
      variables: { type: "string", default: process.env.XUEJI_WS_VARIABLES ?? "{}" },
      events: { type: "string", default: process.env.XUEJI_WS_EVENTS ?? "0" },
    },
  });
  if (!values.url || !values.query) {
    throw new Error("--url and --query are required (or XUEJI_WS_URL and XUEJI_WS_QUERY)");
  }
  const events = Number(values.events);
  if (!Number.isInteger(events) || events < 0) {
    throw new Error(`--events must be a whole number, got ${values.events}`);
  }
  return { ...values, variables: JSON.parse(values.variables), events };
}

// A close event from ws carries its code and reason on getters, which JSON.stringify would drop.
function describe(error) {
  if (Array.isArray(error)) return { errors: error };
  if (error && typeof error.code === "number" && "reason" in error) {
    return { close: { code: error.code, reason: String(error.reason) } };
  }
  // An Error, or ws's ErrorEvent (a refused TCP connection) which is not one but has a message.
  if (error && typeof error.message === "string") return { message: error.message };
  return { message: String(error) };
}

function emit(stream, value) {
  return new Promise((resolve) => stream.write(`${JSON.stringify(value)}\n`, () => resolve()));
}

// graphql-ws only parses text frames; a binary one fails as "Message is missing the 'type' property",
// which does not say what went wrong. Say it first.
class TextFramesOnly extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on("message", (_data, isBinary) => {
      if (isBinary && !this.warned) {
        this.warned = true;
        void emit(process.stderr, { warning: "binary frame from the server; graphql-transport-ws is text" });
      }
    });
  }
}

async function main() {
  const { url, token, query, variables, events } = options();
  const client = createClient({
    url,
    webSocketImpl: TextFramesOnly,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
    // A test wants the first refusal, not graphql-ws's back-off and five more attempts (it retries 4403).
    retryAttempts: 0,
    on: { connected: () => void emit(process.stdout, { ready: true }) },
  });

  let received = 0;
  let status = 0;
  const subscription = client.iterate({ query, variables });
  try {
    for await (const result of subscription) {
      received += 1;
      await emit(process.stdout, result);
      if (events && received >= events) break; // break ends the iterator: graphql-ws sends "complete"
    }
    if (events && received < events) {
      throw new Error(`the server completed the subscription after ${received} of ${events} results`);
    }
  } catch (error) {
    status = 1;
    await emit(process.stderr, { error: describe(error) });
  } finally {
    await client.dispose();
  }
  process.exitCode = status;
}

main().catch(async (error) => {
  await emit(process.stderr, { error: describe(error) });
  process.exitCode = 1;
});
