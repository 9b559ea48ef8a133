// Messages shown beside the section that raised them (a bad image under "Detect", a bad checkpoint
// under "Model"), each with a button that dismisses it. A section keeps its latest few: enough to
// read a burst (several files that are not images), not a growing log.
const KEEP = 4;

/** Adds a message at the top of `box`; returns it. */
export function notify(box: HTMLElement, text: string, kind: 'error' | 'info' = 'error'): HTMLElement {
  const p = document.createElement('p');
  p.className = `notice ${kind}`;
  // role=alert for errors: announced at once by screen readers; info waits its turn.
  p.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  const span = document.createElement('span');
  span.className = 'text';
  span.textContent = text;
  const dismiss = document.createElement('button');
  dismiss.type = 'button';
  dismiss.className = 'dismiss';
  dismiss.textContent = '×';
  dismiss.setAttribute('aria-label', 'Dismiss this message');
  dismiss.title = 'Dismiss';
  dismiss.addEventListener('click', () => {
    // Keep keyboard users in place: focus the next message's button, else the section itself.
    const next = (p.nextElementSibling ?? p.previousElementSibling)?.querySelector<HTMLButtonElement>('button.dismiss');
    p.remove();
    (next ?? (box.closest('section') as HTMLElement | null))?.focus();
  });
  p.append(span, dismiss);
  box.prepend(p);
  while (box.children.length > KEEP) box.lastElementChild?.remove();
  if (kind === 'error') console.error(text);
  return p;
}

/** Removes every message in `box`. */
export function clearNotices(box: HTMLElement): void {
  box.replaceChildren();
}
