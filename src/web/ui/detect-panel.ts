// Section 4 of the page: the test images, one card each (image, anomaly heatmap, score, verdict),
// scored one at a time with a progress bar and ETA. Adding images scores only those; a new model
// re-scores all; images can be removed one by one or all at once, at any time (also mid-scoring).
import type { Detector, AnomalyResult } from '../../models/detector.js';
import { heatmapOverlay } from '../../io/heatmap.js';
import { decodeFiles, imageCanvas, type NamedImage } from '../decode.js';
import { byId, errorText, plural, removeButton, setStatus } from './dom.js';
import { notify } from './notices.js';
import { clock } from './run-clock.js';

export interface DetectPanelDeps {
  exclusive: <T>(task: () => Promise<T>) => Promise<T>;
  /** The current model and its generation (bumped on every new model), or null. */
  model: () => { detector: Detector; generation: number } | null;
}

interface TestImage extends NamedImage {
  card: HTMLElement;
  /** The model generation that scored it (0: not scored). */
  scoredBy: number;
  anomalous: boolean;
}

export function detectPanel(d: DetectPanelDeps) {
  const el = {
    notices: byId('detect-notices'),
    drop: byId('detect-drop'),
    status: byId('detect-status'),
    clear: byId<HTMLButtonElement>('detect-clear'),
    bar: byId<HTMLProgressElement>('detect-bar'),
    results: byId('results'),
  };
  const images: TestImage[] = [];

  function card(t: NamedImage): HTMLElement {
    const fig = document.createElement('figure');
    fig.className = 'card';
    fig.dataset.name = t.name;
    const pair = document.createElement('div');
    pair.className = 'pair';
    const original = imageCanvas(t.img);
    original.title = 'image';
    const heat = document.createElement('div');
    heat.className = 'pending';
    pair.append(original, heat);
    const cap = document.createElement('figcaption');
    const text = document.createElement('div');
    text.innerHTML = '<div class="name"></div><div class="result"></div>';
    (text.querySelector('.name') as HTMLElement).textContent = t.name;
    cap.append(text, removeButton(`Remove ${t.name}`, () => remove(t.id)));
    fig.append(pair, cap);
    return fig;
  }

  function pending(t: TestImage, why: string): void {
    t.scoredBy = 0;
    for (const k of ['model', 'score', 'verdict']) delete t.card.dataset[k];
    t.card.dataset.state = 'pending';
    (t.card.querySelector('.result') as HTMLElement).textContent = why;
    const pair = t.card.querySelector('.pair') as HTMLElement;
    if (pair.lastElementChild?.tagName === 'CANVAS' && pair.children.length > 1) {
      const blank = document.createElement('div');
      blank.className = 'pending';
      pair.lastElementChild.replaceWith(blank);
    }
  }

  function show(t: TestImage, r: AnomalyResult, det: Detector, generation: number): void {
    const thr = det.threshold;
    const heat = imageCanvas(heatmapOverlay(t.img, r.map, r.size, 0.5 * thr, 2 * thr));
    heat.title = 'anomaly heatmap (transparent blue below half the threshold, red at twice the threshold)';
    (t.card.querySelector('.pair') as HTMLElement).lastElementChild?.replaceWith(heat);
    const verdict = r.anomalous ? 'ANOMALOUS' : 'normal';
    const result = t.card.querySelector('.result') as HTMLElement;
    result.innerHTML = 'score <span class="score"></span> · <span class="verdict"></span>';
    (result.querySelector('.score') as HTMLElement).textContent = r.score.toFixed(5);
    (result.querySelector('.verdict') as HTMLElement).textContent = verdict;
    Object.assign(t.card.dataset, { model: String(generation), score: String(r.score), verdict, state: 'scored' });
    t.scoredBy = generation;
    t.anomalous = r.anomalous;
  }

  function summary(): void {
    el.clear.disabled = images.length === 0;
    if (scoring) return;
    el.bar.hidden = true;
    const m = d.model();
    if (images.length === 0) return setStatus(el.status, '', 'idle');
    if (!m) return setStatus(el.status, `${plural(images.length, 'image')} waiting for a model.`, 'waiting');
    const scored = images.filter((t) => t.scoredBy === m.generation);
    const anomalous = scored.filter((t) => t.anomalous).length;
    setStatus(el.status, `${anomalous}/${scored.length} anomalous (threshold ${m.detector.threshold.toFixed(5)})${lastRun}`, 'done');
  }

  let scoring: Promise<void> | null = null;
  let lastRun = '';

  /** Scores every image the current model has not scored yet; one loop at a time. */
  function scorePending(): Promise<void> {
    scoring ??= runScoring().finally(() => {
      scoring = null;
      summary();
    });
    return scoring;
  }

  async function runScoring(): Promise<void> {
    let done = 0;
    const t0 = performance.now();
    for (;;) {
      const m = d.model();
      const next = m && images.find((t) => t.scoredBy !== m.generation);
      if (!m || !next) break;
      // Counted afresh each time: images added, removed or re-queued by a new model meanwhile.
      const left = images.filter((t) => t.scoredBy !== m.generation).length;
      const total = done + left;
      const eta = done ? (((performance.now() - t0) / 1000) * left) / done : NaN;
      setStatus(el.status, `scoring ${done + 1}/${total} · ${next.name} · ETA ${clock(eta)}`, 'running');
      el.bar.hidden = false;
      el.bar.max = total;
      el.bar.value = done;
      (next.card.querySelector('.result') as HTMLElement).textContent = 'scoring…';
      let r: AnomalyResult;
      try {
        [r] = await d.exclusive(() => m.detector.score([next.img]));
      } catch (e) {
        // One image that fails (e.g. too large for this adapter) leaves the others to be scored.
        notify(el.notices, `${next.name}: scoring failed: ${errorText(e)}`);
        images.splice(images.indexOf(next), 1);
        next.card.remove();
        continue;
      }
      // Replaced or removed meanwhile: the new model re-scores it, a removed image is gone.
      if (d.model()?.generation !== m.generation || !images.includes(next)) continue;
      show(next, r, m.detector, m.generation);
      done++;
    }
    el.bar.value = el.bar.max;
    const seconds = (performance.now() - t0) / 1000;
    lastRun = done ? ` — scored ${plural(done, 'image')} in ${seconds.toFixed(1)} s` : '';
    el.status.dataset.scored = String(done);
  }

  async function add(files: File[]): Promise<void> {
    const added = await decodeFiles(files, (text) => notify(el.notices, text));
    for (const t of added) {
      const entry: TestImage = { ...t, card: card(t), scoredBy: 0, anomalous: false };
      images.push(entry);
      el.results.append(entry.card);
      pending(entry, d.model() ? 'waiting to be scored' : 'waiting for a model');
    }
    if (added.length) await scorePending();
    else summary();
  }

  function remove(id: number): void {
    const i = images.findIndex((t) => t.id === id);
    if (i < 0) return;
    const [t] = images.splice(i, 1);
    t.card.remove();
    const next = images[Math.min(i, images.length - 1)]?.card.querySelector<HTMLButtonElement>('button.remove');
    (next ?? byId<HTMLInputElement>('detect-files')).focus();
    summary();
  }

  function clear(): void {
    images.length = 0;
    el.results.replaceChildren();
    byId<HTMLInputElement>('detect-files').focus();
    summary();
  }

  el.clear.addEventListener('click', clear);

  return {
    images,
    add,
    /** A new model (or none): every image is scored again. */
    modelChanged(): Promise<void> {
      for (const t of images) pending(t, d.model() ? 'waiting to be scored' : 'waiting for a model');
      return d.model() ? scorePending() : (summary(), Promise.resolve());
    },
  };
}
