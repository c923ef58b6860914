/** Mocha root hooks: start the same tfjs backend the program would pick, once, quietly. */
import { initBackend } from "../model/training/backend";

export const mochaHooks = {
    async beforeAll(): Promise<void> {
        await initBackend(undefined, () => undefined);
    },
};
