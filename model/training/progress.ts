/**
 * Training progress for either trainer: one line per epoch with its loss, accuracy, time and an
 * ETA, and on a terminal a bar redrawn within the epoch.
 */

/** `42.0s` or `3m12s`. */
export function formatSeconds(s: number): string {
    return s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${s.toFixed(1)}s`;
}

/** Reports the progress of `epochs` epochs of `stepsPerEpoch` steps each. */
export class EpochProgress {
    /** Seconds of each ended epoch, from `beginEpoch` to `endEpoch`. */
    readonly epochSeconds: number[] = [];
    private readonly started = performance.now();
    private epochStarted = performance.now();
    private epoch = 0;

    constructor(
        private readonly epochs: number,
        private readonly stepsPerEpoch: number,
        private readonly log: (line: string) => void,
        /** Redraw a bar on stdout within each epoch. */
        private readonly bar: boolean,
    ) {}

    /** Whether `step` draws anything: asking for per-step losses costs a sync per batch. */
    get showsSteps(): boolean {
        return this.bar;
    }

    private eta(stepsDone: number): string {
        const elapsed = (performance.now() - this.started) / 1000;
        const left = this.epochs * this.stepsPerEpoch - stepsDone;
        return stepsDone === 0 ? "?" : formatSeconds((elapsed / stepsDone) * left);
    }

    /** An epoch (0-based) starts. */
    beginEpoch(epoch: number): void {
        this.epoch = epoch;
        this.epochStarted = performance.now();
    }

    /** A step (0-based, within the epoch) ended with this batch loss; redraws the bar. */
    step(step: number, loss: number | undefined): void {
        if (!this.bar || step % 25 !== 0) return;
        const filled = Math.round(((step + 1) / this.stepsPerEpoch) * 30);
        const eta = this.eta(this.epoch * this.stepsPerEpoch + step + 1);
        process.stdout.write(
            `\repoch ${this.epoch + 1}/${this.epochs} [${"=".repeat(filled)}${" ".repeat(30 - filled)}] loss ${loss?.toFixed(4)} ETA ${eta}   `,
        );
    }

    /** An epoch ended with this mean loss and accuracy; logs its line. */
    endEpoch(epoch: number, loss: number, accuracy: number): void {
        if (this.bar) process.stdout.write("\r\x1b[K");
        const secs = (performance.now() - this.epochStarted) / 1000;
        this.epochSeconds.push(secs);
        const eta = this.eta((epoch + 1) * this.stepsPerEpoch);
        this.log(
            `epoch ${epoch + 1}/${this.epochs}: loss ${loss.toFixed(4)} accuracy ${accuracy.toFixed(4)} (${secs.toFixed(1)}s, ETA ${eta})`,
        );
    }
}
