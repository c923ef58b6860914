import * as assert from "assert";
import { planSteps } from "../rollout/steps";

const weights = (plan: ReturnType<typeof planSteps>) => plan.steps.map((s) => s.weight);

describe("a rollout's steps", () => {
    it("are 10, 25, 50, 100 by exact weights with a Gateway route, pods as near as whole pods go", () => {
        const plan = planSteps(4, true);
        assert.deepStrictEqual(weights(plan), [10, 25, 50, 100]);
        assert.deepStrictEqual(
            plan.steps.map((s) => s.pods),
            [
                { stable: 3, canary: 1 },
                { stable: 3, canary: 1 },
                { stable: 2, canary: 2 },
                { stable: 0, canary: 4 },
            ],
        );
        assert.strictEqual(
            plan.summary,
            "a Gateway route splits requests by exact weights: 10%, 25%, 50%, then promotion at 100%",
        );
    });

    it("are, without a route, the pod shares nearest those, said up front", () => {
        const four = planSteps(4, false);
        assert.deepStrictEqual(weights(four), [25, 50, 100]);
        assert.strictEqual(
            four.summary,
            "no Gateway route, so the canary's share is its share of 4 pods: 25% (1 of 4 pods), 50% (2 of 4 pods), then promotion at 100%",
        );
        assert.deepStrictEqual(weights(planSteps(3, false)), [33, 67, 100]);
        assert.deepStrictEqual(weights(planSteps(10, false)), [10, 30, 50, 100]);
        assert.deepStrictEqual(weights(planSteps(2, false)), [50, 100]);
    });

    it("take requested steps, refusing without a route those no pod count gives", () => {
        assert.deepStrictEqual(weights(planSteps(2, true, [1, 99, 100])), [1, 99, 100]);
        assert.deepStrictEqual(weights(planSteps(4, false, [75, 100])), [75, 100]);
        assert.throws(
            () => planSteps(4, false, [30, 100]),
            /`rolloutSteps` is "30,100"; expected steps without a Gateway route that are shares that replicas \(4\) pods give/,
        );
        assert.throws(
            () => planSteps(1, true),
            /`replicas` is 1; expected at least 2 for a rollout/,
        );
    });

    it("refuse a step that leaves the stable track no more pods than the disruption budget keeps", () => {
        assert.deepStrictEqual(weights(planSteps(4, false, [25, 100], 2)), [25, 100]);
        assert.throws(
            () => planSteps(4, false, undefined, 2),
            /`rolloutSteps` is "25,50,100"; expected steps that leave the stable track more pods than pdbMinAvailable \(2\) keeps through an eviction; 50% leaves it 2 of 4/,
        );
        assert.throws(() => planSteps(2, false, undefined, 1), /50% leaves it 1 of 2/);
    });
});
