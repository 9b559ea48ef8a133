// Browser-side file handling for the page: image decoding to RGBA, canvases, downloads, drop zones.
import type { RgbaImage } from '../io/image.js';

export class NotAnImageError extends Error {}

/** A decoded image the user gave the page; `id` tells apart files of the same name. */
export interface NamedImage {
  id: number;
  name: string;
  img: RgbaImage;
}

let nextId = 1;

/** Decodes `files`, reporting each one that fails to `onError` (and leaving it out). */
export async function decodeFiles(files: File[], onError: (text: string) => void): Promise<NamedImage[]> {
  const out: NamedImage[] = [];
  for (const f of files) {
    try {
      out.push({ id: nextId++, name: f.name, img: await decodeImage(f) });
    } catch (e) {
      onError(e instanceof NotAnImageError ? e.message : `${f.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}

/** Decodes a PNG/JPEG (anything the browser decodes) to 8-bit RGBA, without colour management. */
export async function decodeImage(file: Blob & { name?: string }): Promise<RgbaImage> {
  const name = file.name ?? 'file';
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new NotAnImageError(`${name}: not a PNG or JPEG image (the browser could not decode it)`);
  }
  try {
    const { width, height } = bitmap;
    const ctx = context2d(width, height);
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, width, height).data;
    return { width, height, data };
  } finally {
    bitmap.close();
  }
}

function context2d(width: number, height: number): OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D {
  const opts = { willReadFrequently: true, colorSpace: 'srgb' as const };
  if (typeof OffscreenCanvas !== 'undefined') {
    const ctx = new OffscreenCanvas(width, height).getContext('2d', opts);
    if (ctx) return ctx;
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', opts) as CanvasRenderingContext2D | null;
  if (!ctx) throw new Error('this browser gives no 2D canvas context');
  return ctx;
}

/** An RGBA image on a new <canvas>. */
export function imageCanvas(img: RgbaImage): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2D canvas context');
  const data = new Uint8ClampedArray(img.data.length);
  data.set(img.data);
  ctx.putImageData(new ImageData(data, img.width, img.height), 0, 0);
  return canvas;
}

/** Offers `bytes` as a file download. */
export function download(bytes: Uint8Array, name: string, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Calls `onFiles` for files chosen with `input` or dropped on `zone`. */
export function fileSource(zone: HTMLElement | null, input: HTMLInputElement, onFiles: (files: File[]) => void): void {
  input.addEventListener('change', () => {
    const files = Array.from(input.files ?? []);
    input.value = '';
    if (files.length) onFiles(files);
  });
  if (!zone) return;
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length) onFiles(files);
  });
}
