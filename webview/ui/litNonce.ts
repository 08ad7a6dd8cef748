// Lit (under VS Code Elements) styles its components with constructed style sheets; where it has
// to fall back to <style> elements it tags them with `window.litNonce`, which the CSP requires.
// Imported first by every entry so it runs before any component is defined.
const script = document.querySelector<HTMLScriptElement>('script[nonce]');
if (script?.nonce) (window as unknown as { litNonce?: string }).litNonce = script.nonce;
