/**
 * Part of the docker provider TEST DOUBLE: the build-context digest pulumi-docker v5 stores as the
 * input `build.contextDigest` in Check and diffs on (provider/provider.go, hashContext, read at
 * commit 237b7899). Facts of that algorithm, re-implemented here:
 * - the ignore file is `<dockerfile>.dockerignore` if it exists, else `<context>/.dockerignore`;
 * - the hashed input is, per entry, its slash-separated relative name, Go's `FileMode.String()`
 *   of its mode, the raw SHA-256 of its content and a zero byte;
 * - the first entry is the Dockerfile's content under the name `Dockerfile` with mode 0
 *   (`----------`), wherever the file lies; then every file of the context not ignored, in
 *   lexical walk order; directories add nothing;
 * - the digest is the hex SHA-256 of that input.
 * The real provider hashes a symlink's resolved target path; our contexts hold none, and the
 * double refuses one rather than hash it differently.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** POSIX setuid, setgid and sticky bits (Node's fs.constants has no names for them). */
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;

/** Go's `fs.FileMode.String()` for a mode from lstat: type letters (or `-`), then rwxrwxrwx. */
export function goFileModeString(mode: number): string {
    const type = mode & fs.constants.S_IFMT;
    let letters = "";
    if (type === fs.constants.S_IFDIR) letters += "d";
    if (type === fs.constants.S_IFLNK) letters += "L";
    if (type === fs.constants.S_IFBLK || type === fs.constants.S_IFCHR) letters += "D";
    if (type === fs.constants.S_IFIFO) letters += "p";
    if (type === fs.constants.S_IFSOCK) letters += "S";
    if (mode & S_ISUID) letters += "u";
    if (mode & S_ISGID) letters += "g";
    if (type === fs.constants.S_IFCHR) letters += "c";
    if (mode & S_ISVTX) letters += "t";
    const rwx = "rwxrwxrwx"
        .split("")
        .map((c, i) => (mode & (1 << (8 - i)) ? c : "-"))
        .join("");
    return (letters || "-") + rwx;
}

/** One `.dockerignore` line as a matcher: a glob over slash-separated paths, maybe negated. */
interface IgnoreRule {
    readonly exception: boolean;
    readonly pattern: RegExp;
}

/** Translates a `.dockerignore` glob (`*`, `?`, `**`, `[...]`) into an anchored RegExp. */
function globToRegExp(glob: string): RegExp {
    let re = "";
    for (let i = 0; i < glob.length; i++) {
        const c = glob[i];
        if (c === "*" && glob[i + 1] === "*") {
            // `**` spans any number of directories, including none.
            i++;
            if (glob[i + 1] === "/") {
                i++;
                re += "(?:.*/)?";
            } else re += ".*";
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else if (c === "[") {
            const end = glob.indexOf("]", i + 1);
            if (end < 0) throw new Error(`syntax error in pattern ${JSON.stringify(glob)}`);
            re += `[${glob.slice(i + 1, end).replace(/^!/, "^")}]`;
            i = end;
        } else if (c === "\\" && i + 1 < glob.length) re += `\\${glob[++i]}`;
        else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
    }
    return new RegExp(`^${re}$`);
}

/** The rules of an ignore file: comments and blank lines dropped, paths cleaned. */
export function parseIgnoreFile(text: string): IgnoreRule[] {
    const rules: IgnoreRule[] = [];
    for (const raw of text.split(/\r?\n/)) {
        let line = raw.trim();
        if (line === "" || line.startsWith("#")) continue;
        const exception = line.startsWith("!");
        if (exception) line = line.slice(1).trim();
        const cleaned = path.posix.normalize(line).replace(/^\/+/, "").replace(/\/+$/, "");
        if (cleaned === "" || cleaned === ".") continue;
        rules.push({ exception, pattern: globToRegExp(cleaned) });
    }
    return rules;
}

/**
 * Whether `rel` is excluded: the last rule matching the path or one of its parent directories
 * decides, an exception (`!`) re-including it.
 */
export function isIgnored(rel: string, rules: readonly IgnoreRule[]): boolean {
    const parts = rel.split("/");
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let ignored = false;
    for (const rule of rules) {
        if (candidates.some((c) => rule.pattern.test(c))) ignored = !rule.exception;
    }
    return ignored;
}

/** The ignore rules that apply to a build: the Dockerfile's own file first, then the context's. */
function ignoreRules(context: string, dockerfile: string): IgnoreRule[] {
    for (const candidate of [`${dockerfile}.dockerignore`, path.join(context, ".dockerignore")]) {
        let text: string;
        try {
            text = fs.readFileSync(candidate, "utf8");
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
            throw new Error(`reading ${JSON.stringify(candidate)}: ${(err as Error).message}`);
        }
        return parseIgnoreFile(text);
    }
    return [];
}

/** The build context's digest, as the real provider computes it (see the file comment). */
export function contextDigest(context: string, dockerfile: string): string {
    const rules = ignoreRules(context, dockerfile);
    const input: Buffer[] = [];
    const add = (name: string, mode: string, content: Buffer) => {
        const sum = crypto.createHash("sha256").update(content).digest();
        input.push(Buffer.from(name + mode), sum, Buffer.from([0]));
    };
    add("Dockerfile", "----------", fs.readFileSync(dockerfile));
    if (!fs.existsSync(context)) {
        throw new Error(
            `unable to hash build context: resolve ${context}: lstat ${context}: no such file or directory`,
        );
    }
    const walk = (dir: string, relDir: string) => {
        // Go's WalkDir visits entries in lexical (byte) order.
        const names = fs.readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const name of names) {
            const rel = relDir === "" ? name : `${relDir}/${name}`;
            const full = path.join(dir, name);
            const st = fs.lstatSync(full);
            if (st.isDirectory()) {
                walk(full, rel);
                continue;
            }
            if (isIgnored(rel, rules)) continue;
            if (st.isSymbolicLink()) {
                throw new Error(
                    `the docker provider test double does not hash symlinks in a build context (${rel}); the real provider hashes their target path`,
                );
            }
            add(
                rel,
                goFileModeString(st.mode),
                st.isFile() ? fs.readFileSync(full) : Buffer.alloc(0),
            );
        }
    };
    walk(context, "");
    return crypto.createHash("sha256").update(Buffer.concat(input)).digest("hex");
}
