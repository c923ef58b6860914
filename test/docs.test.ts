/**
 * The README and docs/: the generated tables equal their sources (configKeys.ts, the benches'
 * JSON), every relative link resolves inside the repository, the README stays short, and no page
 * carries history (commit hashes, dates).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { updateDocs } from "../scripts/docs-tables";

const ROOT = path.resolve(__dirname, "..");
const PAGES = [
    "README.md",
    ...fs
        .readdirSync(path.join(ROOT, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => path.join("docs", f)),
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
    return heading
        .trim()
        .toLowerCase()
        .replace(/[^\w\s-]/g, "")
        .replace(/\s/g, "-");
}

describe("docs", () => {
    it("every generated table equals its source (npm run docs:tables writes them)", () => {
        assert.deepStrictEqual(updateDocs(true), []);
    });

    it("the README fits in 150 lines", () => {
        const lines = fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split("\n").length;
        assert.ok(lines <= 150, `README.md has ${lines} lines`);
    });

    for (const page of PAGES) {
        it(`${page}: every relative link and anchor resolves`, () => {
            const text = fs.readFileSync(path.join(ROOT, page), "utf8");
            const broken: string[] = [];
            for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
                if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
                const [file, anchor] = target.split("#");
                const resolved =
                    file === ""
                        ? path.join(ROOT, page)
                        : path.resolve(ROOT, path.dirname(page), file);
                if (!resolved.startsWith(ROOT) || !fs.existsSync(resolved)) {
                    broken.push(target);
                    continue;
                }
                if (anchor !== undefined && resolved.endsWith(".md")) {
                    const headings = [...fs.readFileSync(resolved, "utf8").matchAll(/^#+ (.+)$/gm)];
                    if (!headings.some(([, h]) => anchorOf(h) === anchor)) broken.push(target);
                }
            }
            assert.deepStrictEqual(broken, []);
        });

        it(`${page}: no commit hashes or dates`, () => {
            const text = fs.readFileSync(path.join(ROOT, page), "utf8");
            assert.deepStrictEqual(text.match(/\b20\d\d-\d\d-\d\d\b/g), null);
            // Seven or more hex digits with a digit and a letter among them, outside sha256 digests.
            const hashes = (text.match(/\b[0-9a-f]{7,40}\b/g) ?? []).filter(
                (h) => /\d/.test(h) && /[a-f]/.test(h) && !text.includes(`sha256:${h}`),
            );
            assert.deepStrictEqual(hashes, []);
        });
    }
});
