/**
 * `npm run docs:tables`: writes the generated tables of the docs from their one source each, so a
 * table can never drift from what it shows:
 *   - the config table of docs/configuration.md, from configKeys.ts;
 *   - each figures table of docs/performance.md (and the resilience table of
 *     docs/local-cluster.md), from the bench's JSON under bench/results/ as scripts/docsFigures.ts
 *     lists it, naming the command that remakes it and, per row, the JSON field of each figure.
 * A table sits between `<!-- NAME -->` and `<!-- /NAME -->` lines; `--check` changes nothing and
 * exits 1 naming each table that differs from its source (test/docs.test.ts runs the same check).
 */
import * as fs from "fs";
import * as path from "path";
import { CONFIG_KEYS } from "../configKeys";
import { runCommand } from "../verdict";
import { FIGURES } from "./docsFigures";

const ROOT = path.resolve(__dirname, "..");

/**
 * The value at a dotted `field` of `json`, where a `[key=value]` segment picks the element of a
 * list whose `key` is `value`; throws naming the field when it is absent.
 */
function valueAt(json: unknown, field: string, file: string): unknown {
    let value: unknown = json;
    for (const segment of field.match(/\[[^\]]*\]|[^.]+/g) ?? []) {
        const pick = /^\[(\w+)=(.*)\]$/.exec(segment);
        const next = pick
            ? Array.isArray(value)
                ? value.find((e) => String((e as Record<string, unknown>)?.[pick[1]]) === pick[2])
                : undefined
            : value !== null && typeof value === "object"
              ? (value as Record<string, unknown>)[segment]
              : undefined;
        if (next === undefined) {
            throw new Error(`${file} has no field \`${field}\`; expected it for the docs' figures`);
        }
        value = next;
    }
    return value;
}

/**
 * A figure as a table cell: numbers to four decimals at most, lists comma-separated, a message
 * on one line.
 */
function cell(value: unknown): string {
    if (typeof value === "number") return String(Number(value.toFixed(4)));
    if (Array.isArray(value)) return value.map(cell).join(", ");
    return typeof value === "string" ? value.replace(/\s*\n\s*/g, " ") : JSON.stringify(value);
}

/** Escapes what would break a Markdown table cell. */
const escapeCell = (text: string) => text.replace(/\|/g, "\\|");

/** The figures table of bench `name`, or a line saying how to make its JSON when it is absent. */
export function renderFigures(name: string): string {
    const source = FIGURES[name];
    if (source === undefined) throw new Error(`no figures source named "${name}"`);
    const file = path.join(ROOT, source.file);
    if (!fs.existsSync(file)) {
        throw new Error(`${source.file} is missing; \`${source.command}\` writes it`);
    }
    const json = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    const rows = source.figures.map(
        ([label, field]) =>
            `| ${escapeCell(label)} | ${escapeCell(cell(valueAt(json, field, source.file)))} | \`${field}\` |`,
    );
    return [
        `From \`${source.file}\`, written by \`${source.command}\`.`,
        "",
        "| figure | value | JSON field |",
        "| --- | --- | --- |",
        ...rows,
    ].join("\n");
}

/** The config table: every key of configKeys.ts with its type, default and meaning. */
export function renderConfigTable(): string {
    const rows = Object.entries(CONFIG_KEYS).map(([key, spec]) => {
        const fallback = spec.default === "" ? "(unset)" : `\`${String(spec.default)}\``;
        return `| \`${key}\` | ${spec.type} | ${escapeCell(fallback)} | ${escapeCell(spec.description)} |`;
    });
    return ["| key | type | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** Generated blocks: each block's name and how to render it. */
type Blocks = Array<[block: string, render: () => string]>;

/** The generated blocks of each page. */
const PAGES: Record<string, Blocks> = {
    "docs/configuration.md": [["config-table", renderConfigTable]],
    "docs/local-cluster.md": [["figures:resilience", () => renderFigures("resilience")]],
    "docs/canaries.md": [["figures:progressive", () => renderFigures("progressive")]],
    "docs/performance.md": Object.keys(FIGURES)
        .filter((name) => name !== "resilience" && name !== "progressive")
        .map((name) => [`figures:${name}`, () => renderFigures(name)]),
};

/** `text` with each block's content replaced by its rendering; throws on a missing block. */
function withBlocks(page: string, text: string, blocks: Blocks): string {
    const known = new Set(blocks.map(([block]) => block));
    for (const [, block] of text.matchAll(/^<!-- ((?:figures:|config-)[\w-]+) -->$/gm)) {
        if (!known.has(block)) throw new Error(`${page} has a block ${block} that nothing renders`);
    }
    let out = text;
    for (const [block, render] of blocks) {
        const open = `<!-- ${block} -->`;
        const close = `<!-- /${block} -->`;
        const start = out.indexOf(open);
        const end = out.indexOf(close);
        if (start < 0 || end < start) {
            throw new Error(`${page} lacks the lines ${open} and ${close} around its table`);
        }
        out = `${out.slice(0, start + open.length)}\n${render()}\n${out.slice(end)}`;
    }
    return out;
}

/** Each page whose generated blocks differ from their sources (after writing them, unless `check`). */
export function updateDocs(check: boolean): string[] {
    const stale: string[] = [];
    for (const [page, blocks] of Object.entries(PAGES)) {
        const file = path.join(ROOT, page);
        const text = fs.readFileSync(file, "utf8");
        const wanted = withBlocks(page, text, blocks);
        if (wanted === text) continue;
        stale.push(page);
        if (!check) fs.writeFileSync(file, wanted);
    }
    return stale;
}

if (require.main === module) {
    runCommand(async () => {
        const check = process.argv.includes("--check");
        const stale = updateDocs(check);
        for (const page of stale) {
            console.log(
                check ? `${page}: a generated table differs from its source` : `wrote ${page}`,
            );
        }
        if (stale.length === 0) console.log("docs: every generated table matches its source");
        return check && stale.length > 0 ? 1 : 0;
    });
}
