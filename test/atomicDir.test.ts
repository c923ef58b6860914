import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TEMP_PREFIX, writeDirAtomically } from "../model/atomicDir";
import { deadPid } from "./support/processes";

describe("writeDirAtomically", () => {
    let parent: string;
    beforeEach(() => {
        parent = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-atomic-"));
    });

    it("publishes the directory only when fill resolves, and leaves nothing when it throws", async () => {
        const target = path.join(parent, "1");
        await assert.rejects(
            writeDirAtomically(target, "fail", async (dir) => {
                fs.writeFileSync(path.join(dir, "half"), "x");
                throw new Error("disk full");
            }),
            /disk full/,
        );
        assert.deepStrictEqual(fs.readdirSync(parent), []);
        await writeDirAtomically(target, "fail", async (dir) => {
            fs.writeFileSync(path.join(dir, "whole"), "x");
        });
        assert.deepStrictEqual(fs.readdirSync(parent), ["1"]);
        assert.deepStrictEqual(fs.readdirSync(target), ["whole"]);
    });

    it("removes what a killed writer left and keeps a live writer's temporary", async () => {
        const dead = path.join(parent, `${TEMP_PREFIX}1-${deadPid()}-AbC123`);
        const live = path.join(parent, `${TEMP_PREFIX}1-${process.pid}-XyZ789`);
        const otherTarget = path.join(parent, `${TEMP_PREFIX}2-${deadPid()}-QrS456`);
        for (const d of [dead, live, otherTarget]) fs.mkdirSync(d);
        await writeDirAtomically(path.join(parent, "1"), "replace", async () => undefined);
        assert.deepStrictEqual(fs.readdirSync(parent).sort(), [
            path.basename(live),
            path.basename(otherTarget),
            "1",
        ]);
    });

    it("moves back the old version a writer killed mid-replace had moved aside", async () => {
        const aside = path.join(parent, `${TEMP_PREFIX}1-${deadPid()}-AbC123.old`);
        fs.mkdirSync(aside);
        fs.writeFileSync(path.join(aside, "previous"), "v1");
        // The next writer fails: the previous version must still be there afterwards.
        await assert.rejects(
            writeDirAtomically(path.join(parent, "1"), "replace", async () => {
                throw new Error("export failed");
            }),
        );
        assert.deepStrictEqual(fs.readdirSync(parent), ["1"]);
        assert.strictEqual(fs.readFileSync(path.join(parent, "1", "previous"), "utf8"), "v1");
    });
});
