import * as fs from "fs";
import { RealStack, ok, realStackEnv } from "../test/support/realStack";
async function main() {
    const env = realStackEnv();
    if (typeof env === "string") throw new Error(env);
    const stack = new RealStack(env);
    try {
        stack.initStack("dev", await stack.pushStandInBaseImage());
        ok(stack.pulumi(["preview", "-s", "dev"]), "p1");
        const t0 = Date.now();
        const r = stack.pulumi(["preview", "-s", "dev", "-v=7", "--logtostderr", "--logflow"]);
        console.log("seconds", (Date.now() - t0) / 1000);
        fs.writeFileSync("/tmp/trace/preview.err", r.stderr);
        fs.writeFileSync("/tmp/trace/preview.out", r.stdout);
        const t1 = Date.now();
        ok(stack.pulumi(["up", "-s", "dev", "--yes", "--skip-preview"]), "up");
        console.log("up seconds", (Date.now() - t1) / 1000);
        const t2 = Date.now();
        const d = stack.pulumi(["destroy", "-s", "dev", "--yes", "--skip-preview", "-v=7", "--logtostderr", "--logflow"]);
        console.log("destroy seconds", (Date.now() - t2) / 1000);
        fs.writeFileSync("/tmp/trace/destroy.err", d.stderr);
    } finally { stack.cleanUp(); }
}
main();
