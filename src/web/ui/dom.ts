// Small DOM helpers shared by the page's panels.

/** The element with this id; a missing one is a bug in index.html, named at start-up. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html has no element #${id}`);
  return node as T;
}

/** Sets a status line's text and its data-state (what the CSS colours and the tests read). */
export function setStatus(node: HTMLElement, text: string, state = 'ok'): void {
  node.textContent = text;
  node.dataset.state = state;
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A small "×" button that removes something; `label` says what, for screen readers. */
export function removeButton(label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'remove';
  b.textContent = '×';
  b.title = label;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}
