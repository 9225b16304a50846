// Before anything leaves the device, secrets and personal data are swapped for placeholders
// ([EMAIL_1], [CARD_1], …) that the cloud model sees and may repeat; the reply gets the
// originals back. The same value gets the same placeholder within one redactor, so a
// conversation stays coherent. Card numbers must pass the Luhn check and IBANs their mod-97
// check, so ordinary long numbers pass through.

export type PiiKind =
  | 'PRIVATE_KEY'
  | 'URL_CREDENTIALS'
  | 'JWT'
  | 'API_KEY'
  | 'EMAIL'
  | 'IBAN'
  | 'CARD'
  | 'IP'
  | 'PHONE';

interface Detector {
  kind: PiiKind;
  pattern: RegExp;
  /** Extra check of a match (checksums). */
  valid?: (match: string) => boolean;
}

/** Luhn's checksum over the digits of `s`. */
export function luhn(s: string): boolean {
  const digits = s.replace(/\D/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** ISO 13616's mod-97 check of an IBAN (spaces allowed). */
export function ibanValid(s: string): boolean {
  const iban = s.replace(/\s/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (const ch of moved) {
    const v = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    rest = (rest * (v > 9 ? 100 : 10) + v) % 97;
  }
  return rest === 1;
}

const IPV4 = String.raw`(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;
const IPV6 = String.raw`(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|(?:[0-9a-fA-F]{1,4}:){1,7}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})?`;

/** In order: longer, more specific shapes first, so a key inside a URL is one secret. */
const DETECTORS: Detector[] = [
  {
    kind: 'PRIVATE_KEY',
    pattern:
      /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----/g,
  },
  { kind: 'URL_CREDENTIALS', pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@[^\s"'<>]+/gi },
  { kind: 'JWT', pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
  {
    kind: 'API_KEY',
    pattern: new RegExp(
      [
        String.raw`\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}`,
        String.raw`\bgh[pousr]_[A-Za-z0-9]{36,}`,
        String.raw`\bgithub_pat_[A-Za-z0-9_]{40,}`,
        String.raw`\bAKIA[0-9A-Z]{16}\b`,
        String.raw`\bAIza[0-9A-Za-z_-]{35}`,
        String.raw`\bxox[abposr]-[A-Za-z0-9-]{10,}`,
        String.raw`\bhf_[A-Za-z0-9]{30,}`,
        String.raw`\bglpat-[A-Za-z0-9_-]{20,}`,
        String.raw`\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}`,
      ].join('|'),
      'g',
    ),
  },
  { kind: 'EMAIL', pattern: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g },
  {
    kind: 'IBAN',
    pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g,
    valid: ibanValid,
  },
  { kind: 'CARD', pattern: /\b\d(?:[ -]?\d){12,18}\b/g, valid: luhn },
  { kind: 'IP', pattern: new RegExp(String.raw`\b${IPV4}\b|(?<![\w:])(?:${IPV6})(?![\w:])`, 'g') },
  {
    kind: 'PHONE',
    pattern: /(?<![\w+])\+?\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)/g,
    // International (+…), an area code in parentheses, or ten digits or more; not a date.
    valid: (m) => {
      const digits = m.replace(/\D/g, '').length;
      if (digits < 8 || digits > 15 || /^\d{4}[-.]\d{1,2}[-.]\d{1,2}$/.test(m)) return false;
      return m.startsWith('+') || m.includes('(') || digits >= 10;
    },
  },
];

const PLACEHOLDER = /\[(PRIVATE_KEY|URL_CREDENTIALS|JWT|API_KEY|EMAIL|IBAN|CARD|IP|PHONE)_(\d+)\]/g;
/** The longest a placeholder can be: a stream holds back this much of a possible one. */
const LONGEST = '[URL_CREDENTIALS_99999]'.length;

export class Redactor {
  private readonly toPlaceholder = new Map<string, string>();
  private readonly toValue = new Map<string, string>();
  private readonly counts = new Map<PiiKind, number>();

  /** What was replaced so far, by kind (counts, never the values). */
  get found(): Partial<Record<PiiKind, number>> {
    return Object.fromEntries(this.counts);
  }

  /** `text` with every detected secret or personal datum replaced by its placeholder. */
  redact(text: string): string {
    let out = text;
    for (const d of DETECTORS) {
      out = out.replace(d.pattern, (match) => {
        // Inside a placeholder already made (a digit run of [CARD_12]) stays as it is.
        if (d.valid && !d.valid(match)) return match;
        return this.placeholder(d.kind, match);
      });
    }
    return out;
  }

  private placeholder(kind: PiiKind, value: string): string {
    const known = this.toPlaceholder.get(value);
    if (known) return known;
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    const p = `[${kind}_${n}]`;
    this.toPlaceholder.set(value, p);
    this.toValue.set(p, value);
    return p;
  }

  /** `text` with this redactor's placeholders turned back into their values. */
  restore(text: string): string {
    return text.replace(PLACEHOLDER, (p) => this.toValue.get(p) ?? p);
  }

  /**
   * A restorer for streamed text: feed each piece, get what can be shown (a placeholder split
   * across pieces is held back until it is whole); `end()` returns the rest.
   */
  restoreStream(): { push(piece: string): string; end(): string } {
    let held = '';
    return {
      push: (piece) => {
        held += piece;
        const open = held.lastIndexOf('[');
        // A '[' with no ']' after it may be a placeholder's start: keep it (within reason).
        const keepFrom =
          open >= 0 && !held.includes(']', open) && held.length - open < LONGEST
            ? open
            : held.length;
        const ready = held.slice(0, keepFrom);
        held = held.slice(keepFrom);
        return this.restore(ready);
      },
      end: () => {
        const rest = this.restore(held);
        held = '';
        return rest;
      },
    };
  }
}
