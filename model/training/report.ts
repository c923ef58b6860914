/**
 * A self-contained HTML training report: training and test loss and accuracy per epoch as inline
 * SVG line charts, the run's settings and timing, the test-set confusion matrix as a shaded table
 * and a grid of misclassified test digits. No scripts, fonts or network needed to view it.
 */
import { PNG } from "pngjs";
import { IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES } from "../savedmodel/contract";

/** Per-epoch metrics, one value per epoch; the test ones may be empty. */
export interface ReportHistory {
    readonly loss: readonly number[];
    readonly accuracy: readonly number[];
    readonly testLoss: readonly number[];
    readonly testAccuracy: readonly number[];
}

/** A test digit the model got wrong. */
export interface Misclassified {
    /** Index in the test split. */
    readonly index: number;
    /** 28x28 pixels, 0-255. */
    readonly pixels: Uint8Array;
    readonly label: number;
    readonly predicted: number;
}

/** What the report shows. */
export interface ReportInput {
    readonly title: string;
    readonly history: ReportHistory;
    readonly testAccuracy: number;
    readonly testLoss: number;
    /** Settings and timing of the run, shown as a table in this order. */
    readonly details: Readonly<Record<string, string>>;
    /** `confusion[trueClass][predictedClass]` counts on the test set. */
    readonly confusion: number[][];
    /** Misclassified test digits to show (the report shows them all). */
    readonly misclassified: readonly Misclassified[];
}

/** The first `limit` test examples whose prediction is wrong. */
export function misclassifiedDigits(
    images: Uint8Array,
    labels: ArrayLike<number>,
    predicted: ArrayLike<number>,
    limit: number,
): Misclassified[] {
    const out: Misclassified[] = [];
    for (let i = 0; i < labels.length && out.length < limit; i++) {
        if (labels[i] !== predicted[i]) {
            const pixels = images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
            out.push({ index: i, pixels, label: labels[i], predicted: predicted[i] });
        }
    }
    return out;
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

/** One series of a chart. */
interface Series {
    readonly name: string;
    readonly values: readonly number[];
    readonly colour: string;
}

/** A chart of each series against epoch 1..n, with min/max axis labels and a legend. */
function lineChart(label: string, all: readonly Series[]): string {
    const w = 360;
    const h = 200;
    const pad = 40;
    const series = all.filter((s) => s.values.length > 0);
    const values = series.flatMap((s) => s.values);
    const epochs = Math.max(...series.map((s) => s.values.length));
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const span = hi - lo || 1;
    const x = (i: number) => pad + (epochs === 1 ? 0 : (i * (w - 2 * pad)) / (epochs - 1));
    const y = (v: number) => h - pad - ((v - lo) * (h - 2 * pad)) / span;
    const lines = series
        .map((s, k) => {
            const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
            const dots = s.values.map(
                (v, i) =>
                    `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.colour}"><title>${s.name}, epoch ${i + 1}: ${v.toFixed(4)}</title></circle>`,
            );
            const legend = `<text x="${w - pad}" y="${pad - 14 + 12 * k}" text-anchor="end" font-size="10" fill="${s.colour}">${s.name}</text>`;
            return `<polyline fill="none" stroke="${s.colour}" stroke-width="2" points="${points.join(" ")}"/>${dots.join("")}${legend}`;
        })
        .join("\n");
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="${label} per epoch">
<text x="${w / 2}" y="16" text-anchor="middle" font-size="13">${label} per epoch</text>
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#888"/>
<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#888"/>
<text x="${pad - 4}" y="${y(hi) + 4}" text-anchor="end" font-size="10">${hi.toFixed(3)}</text>
<text x="${pad - 4}" y="${y(lo) + 4}" text-anchor="end" font-size="10">${lo.toFixed(3)}</text>
<text x="${pad}" y="${h - pad + 14}" font-size="10">1</text>
<text x="${w - pad}" y="${h - pad + 14}" text-anchor="end" font-size="10">${epochs}</text>
<text x="${w / 2}" y="${h - 8}" text-anchor="middle" font-size="10">epoch</text>
${lines}
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

/** A digit as a PNG data URI, white on black as MNIST stores it. */
function digitPng(pixels: Uint8Array): string {
    const png = new PNG({ width: IMAGE_SIZE, height: IMAGE_SIZE, colorType: 0, inputColorType: 0 });
    png.data = Buffer.from(pixels);
    return `data:image/png;base64,${PNG.sync.write(png, { colorType: 0, inputColorType: 0 }).toString("base64")}`;
}

function misclassifiedGrid(items: readonly Misclassified[]): string {
    const cells = items.map(
        (m) =>
            `<figure><img src="${digitPng(m.pixels)}" width="56" height="56" alt="test image ${m.index}"><figcaption>#${m.index}: ${m.label} → ${m.predicted}</figcaption></figure>`,
    );
    return `<div class="grid">${cells.join("")}</div>`;
}

function detailsTable(details: Readonly<Record<string, string>>): string {
    const rows = Object.entries(details).map(
        ([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`,
    );
    return `<table class="details">${rows.join("")}</table>`;
}

/** Renders the report as one HTML document. */
export function renderReport(input: ReportInput): string {
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;font-size:12px}.details td,.details th{text-align:left}.grid{display:flex;flex-wrap:wrap}figure{margin:4px;text-align:center;font-size:11px}img{image-rendering:pixelated}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>Test accuracy <strong>${input.testAccuracy.toFixed(4)}</strong>, test loss ${input.testLoss.toFixed(4)}.</p>
${lineChart("loss", [
    { name: "training", values: input.history.loss, colour: "#cb181d" },
    { name: "test", values: input.history.testLoss, colour: "#fd8d3c" },
])}
${lineChart("accuracy", [
    { name: "training", values: input.history.accuracy, colour: "#2166ac" },
    { name: "test", values: input.history.testAccuracy, colour: "#6baed6" },
])}
<h2>Run</h2>
${detailsTable(input.details)}
<h2>Confusion matrix (test set)</h2>
${confusionTable(input.confusion)}
<h2>Misclassified test digits (true → predicted)</h2>
${misclassifiedGrid(input.misclassified)}
</body></html>
`;
}
