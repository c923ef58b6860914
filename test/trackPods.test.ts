import * as assert from "assert";
import { labelSelector, readyPodNames } from "../rollout/trackPods";

const pod = (name: string, ready: string, deleting = false) => ({
    metadata: { name, ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    status: { conditions: [{ type: "Ready", status: ready }] },
});

describe("the pods a rollout's analysis reaches", () => {
    it("are the Ready ones that are not being deleted", () => {
        const list = {
            items: [
                pod("b", "True"),
                pod("a", "True"),
                pod("starting", "False"),
                pod("leaving", "True", true),
                { metadata: { name: "pending" } },
            ],
        };
        assert.deepStrictEqual(readyPodNames(list), ["a", "b"]);
    });

    it("are found by the track Service's selector", () => {
        assert.strictEqual(
            labelSelector("svc", { app: "mymodel", "tfk8s.dev/track": "canary" }),
            "app=mymodel,tfk8s.dev/track=canary",
        );
        assert.throws(() => labelSelector("svc", undefined), /Service svc has no selector/);
        assert.throws(() => labelSelector("svc", {}), /no selector/);
    });
});
