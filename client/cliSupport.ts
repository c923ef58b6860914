/** Pieces the `predict` and `smoke` commands share: connection flags, number flags, tables. */
import { ParseArgsConfig, parseArgs } from "util";
import { errorMessage } from "../errors";
import { runCommand } from "../verdict";
import { TfServingGrpcClient } from "./grpcClient";
import { ServingClient } from "./servingClient";
import { TfServingClient } from "./tfServingClient";
import { CLIENT_DEFAULTS, ClientOptions } from "./types";

/** A mistake on the command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
    }
}

/** Flags that each take a value, declared as `parseArgs` takes them. */
export function valueFlags<const N extends string>(...names: N[]): Record<N, { type: "string" }> {
    return Object.fromEntries(names.map((name) => [name, { type: "string" }])) as Record<
        N,
        { type: "string" }
    >;
}

/** `util.parseArgs` option specs of the flags every command takes to reach the server. */
const CONNECTION_FLAGS = {
    ...valueFlags("url", "grpc", "model", "version", "label", "timeout", "retries"),
    help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses the connection flags plus a command's own `options` and turns the former into `client`,
 * or returns "help" for `--help` (every command answers it the same way); a mistake, `--url`
 * missing among them unless `requireUrl` is false (its `url` is then ""), is a `UsageError`.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
    argv: readonly string[],
    options: T,
    allowPositionals: boolean,
    requireUrl = true,
) {
    const parse = () =>
        parseArgs({
            args: [...argv],
            options: { ...CONNECTION_FLAGS, ...options },
            allowPositionals,
            strict: true,
        });
    let parsed: ReturnType<typeof parse>;
    try {
        parsed = parse();
    } catch (err) {
        throw new UsageError(errorMessage(err));
    }
    if ("help" in parsed.values && parsed.values.help === true) return "help";
    const grpc = (parsed.values as { grpc?: string }).grpc;
    return { ...parsed, client: connectionOptions(parsed.values, requireUrl), grpc };
}

/** Usage lines of `CONNECTION_FLAGS`, but for `--help`, which ends every usage text. */
const CONNECTION_USAGE = [
    "  --url <endpoint>     TF Serving's REST base URL, e.g. http://<node-ip>:30111",
    "  --grpc <host:port>   TF Serving's gRPC API instead, e.g. 127.0.0.1:8500 (one of the two)",
    `  --model <name>       model name (default ${CLIENT_DEFAULTS.model})`,
    "  --version <n>        use this model version (default: the latest the server serves)",
    "  --label <label>      use the version with this label (not with --version)",
    `  --timeout <ms>       per-request timeout (default ${CLIENT_DEFAULTS.timeoutMs})`,
    `  --retries <n>        retries on connection errors and HTTP 503 (default ${CLIENT_DEFAULTS.retries})`,
];

/**
 * A command's usage text: its synopsis and description, a blank line, the connection flags, the
 * command's own `flags`, then `--help`, which `parseFlags` answers for every command.
 */
export function usageText(synopsis: readonly string[], flags: readonly string[]): string {
    return [
        ...synopsis,
        "",
        ...CONNECTION_USAGE,
        ...flags,
        "  -h, --help           show this text",
    ].join("\n");
}

/** Parses an integer flag, or returns undefined when it is absent. */
export function intFlag(name: string, raw: string | undefined, min: number): number | undefined {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isSafeInteger(n) || n < min) {
        throw new UsageError(`\`--${name}\` is "${raw}"; expected an integer >= ${min}`);
    }
    return n;
}

/** Client options from the connection flags; `--url` is required if `requireUrl`. */
function connectionOptions(
    values: {
        url?: string;
        grpc?: string;
        model?: string;
        version?: string;
        label?: string;
        timeout?: string;
        retries?: string;
    },
    requireUrl: boolean,
): ClientOptions {
    if (values.url !== undefined && values.grpc !== undefined) {
        throw new UsageError(
            `\`--url\` is "${values.url}" and \`--grpc\` is "${values.grpc}"; expected one of the two`,
        );
    }
    if (requireUrl && (values.url ?? "") === "" && values.grpc === undefined) {
        throw new UsageError(
            "`--url` is missing; expected TF Serving's REST base URL, e.g. http://<node-ip>:30111, or --grpc <host:port>",
        );
    }
    if (values.version !== undefined && values.label !== undefined) {
        throw new UsageError(
            `\`--version\` is ${values.version} and \`--label\` is "${values.label}"; expected at most one`,
        );
    }
    return {
        url: values.url ?? "",
        model: values.model,
        version: intFlag("version", values.version, 1),
        label: values.label,
        timeoutMs: intFlag("timeout", values.timeout, 1),
        retries: intFlag("retries", values.retries, 0),
    };
}

/** The client the connection flags ask for: gRPC at `grpc` when given, REST at `client.url` otherwise. */
export function openClient(client: ClientOptions, grpc: string | undefined): ServingClient {
    return grpc === undefined
        ? new TfServingClient(client)
        : new TfServingGrpcClient({ ...client, target: grpc });
}

/** Renders rows under headers; columns listed in `right` are right-aligned (numbers). */
export function formatTable(
    headers: readonly string[],
    rows: readonly (readonly string[])[],
    right: readonly number[] = [],
): string {
    const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const line = (cells: readonly string[]) =>
        cells
            .map((cell, c) =>
                right.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]),
            )
            .join("  ")
            .trimEnd();
    return [line(headers), ...rows.map(line)].join("\n");
}

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
}

/**
 * Runs a command's main to its verdict (`runCommand`): prints `error: …` (and the usage for a
 * `UsageError`) to stderr and exits 2 for usage errors, 1 for anything else.
 */
export function runMain(main: () => Promise<number>, usage: string): void {
    runCommand(main, (err) => {
        if (err instanceof UsageError) {
            process.stderr.write(`error: ${err.message}\n\n${usage}\n`);
            return 2;
        }
        process.stderr.write(`error: ${errorMessage(err)}\n`);
        return 1;
    });
}
