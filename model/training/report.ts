/**
 * A self-contained HTML training report: loss and accuracy per epoch as inline SVG line charts and
 * the test-set confusion matrix as a shaded table. No scripts, fonts or network needed to view it.
 */
import { NUM_CLASSES } from "../savedmodel/contract";

/** What the report shows. */
export interface ReportInput {
    readonly title: string;
    /** Per-epoch training metrics, one value per epoch. */
    readonly history: { readonly loss: number[]; readonly accuracy: number[] };
    readonly testAccuracy: number;
    readonly testLoss: number;
    /** `confusion[trueClass][predictedClass]` counts on the test set. */
    readonly confusion: number[][];
}

/** Counts (true, predicted) pairs into a 10x10 matrix. */
export function confusionMatrix(
    labels: ArrayLike<number>,
    predicted: ArrayLike<number>,
): number[][] {
    if (labels.length !== predicted.length) {
        throw new Error(
            `confusion matrix needs equal lengths, got ${labels.length} and ${predicted.length}`,
        );
    }
    const m = Array.from({ length: NUM_CLASSES }, () => new Array<number>(NUM_CLASSES).fill(0));
    for (let i = 0; i < labels.length; i++) {
        m[labels[i]][predicted[i]]++;
    }
    return m;
}

function escapeHtml(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One polyline chart of `values` against epoch 1..n, with min/max axis labels. */
function lineChart(label: string, values: number[], colour: string): string {
    const w = 360;
    const h = 200;
    const pad = 40;
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const span = hi - lo || 1;
    const x = (i: number) =>
        pad + (values.length === 1 ? 0 : (i * (w - 2 * pad)) / (values.length - 1));
    const y = (v: number) => h - pad - ((v - lo) * (h - 2 * pad)) / span;
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const dots = values
        .map(
            (v, i) =>
                `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${colour}"><title>epoch ${i + 1}: ${v.toFixed(4)}</title></circle>`,
        )
        .join("");
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="${label} per epoch">
<text x="${w / 2}" y="16" text-anchor="middle" font-size="13">${label} per epoch</text>
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#888"/>
<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#888"/>
<text x="${pad - 4}" y="${y(hi) + 4}" text-anchor="end" font-size="10">${hi.toFixed(3)}</text>
<text x="${pad - 4}" y="${y(lo) + 4}" text-anchor="end" font-size="10">${lo.toFixed(3)}</text>
<text x="${pad}" y="${h - pad + 14}" font-size="10">1</text>
<text x="${w - pad}" y="${h - pad + 14}" text-anchor="end" font-size="10">${values.length}</text>
<text x="${w / 2}" y="${h - 8}" text-anchor="middle" font-size="10">epoch</text>
<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points}"/>${dots}
</svg>`;
}

function confusionTable(m: number[][]): string {
    const max = Math.max(...m.flat());
    const head = m.map((_, p) => `<th>${p}</th>`).join("");
    const rows = m
        .map((row, t) => {
            const cells = row
                .map((n, p) => {
                    // Correct predictions shade blue, mistakes red, by share of the largest cell.
                    const alpha = max === 0 ? 0 : Math.max(0.06, n / max);
                    const rgb = t === p ? "33,102,172" : "203,24,29";
                    return `<td style="background:rgba(${rgb},${alpha.toFixed(3)})">${n}</td>`;
                })
                .join("");
            return `<tr><th>${t}</th>${cells}</tr>`;
        })
        .join("\n");
    return `<table><tr><th>true \\ predicted</th>${head}</tr>\n${rows}</table>`;
}

/** Renders the report as one HTML document. */
export function renderReport(input: ReportInput): string {
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;font-size:12px}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>Test accuracy <strong>${input.testAccuracy.toFixed(4)}</strong>, test loss ${input.testLoss.toFixed(4)}.</p>
${lineChart("training loss", input.history.loss, "#cb181d")}
${lineChart("training accuracy", input.history.accuracy, "#2166ac")}
<h2>Confusion matrix (test set)</h2>
${confusionTable(input.confusion)}
</body></html>
`;
}
