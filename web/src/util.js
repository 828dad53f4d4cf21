// Identity helpers: ids, colours, links.

/** RFC 4122 v4 UUID; crypto.randomUUID exists only in secure contexts, so fall back to getRandomValues. */
export function uuid () {
  if (typeof crypto.randomUUID === 'function') {
    try { return crypto.randomUUID() } catch { /* insecure context */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

function hslToRgb (h, s, l) {
  s /= 100
  l /= 100
  const a = s * Math.min(l, 1 - l)
  const f = (n) => {
    const k = (n + h / 30) % 12
    return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
  }
  return [f(0), f(8), f(4)]
}

function luminance ([r, g, b]) {
  const lin = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/**
 * A random participant colour, `hsl(<hue>, 70%, <l>%)`. Lightness starts at 45% and is lowered
 * for light hues (yellows, greens) until white text on it meets WCAG AA (4.5:1), because
 * remote cursor labels are white on this colour.
 */
export function randomColor () {
  const hue = Math.floor(Math.random() * 360)
  let lightness = 45
  while (lightness > 20 && 1.05 / (luminance(hslToRgb(hue, 70, lightness)) + 0.05) < 4.5) lightness -= 1
  return `hsl(${hue}, 70%, ${lightness}%)`
}

/** A translucent variant of a colour for remote selection highlights. */
export function lightColor (color) {
  const hsl = /^hsl\(\s*([\d.]+)\s*,\s*([\d.]+)%\s*,\s*([\d.]+)%\s*\)$/i.exec(color || '')
  if (hsl) return `hsla(${hsl[1]}, ${hsl[2]}%, ${hsl[3]}%, 0.22)`
  if (/^#[0-9a-f]{6}$/i.test(color || '')) return `${color}38`
  return 'rgba(48, 188, 237, 0.22)'
}

/** Keep only colour strings that are safe to drop into a style attribute. */
export function safeColor (color, fallback = '#64748b') {
  if (typeof color !== 'string') return fallback
  if (/^#[0-9a-f]{3,8}$/i.test(color) || /^[a-z]{3,24}$/i.test(color)) return color
  if (/^(hsla?|rgba?)\(\s*[\d.]+(deg)?%?\s*,\s*[\d.]+%?\s*,\s*[\d.]+%?\s*(,\s*[\d.]+%?\s*)?\)$/i.test(color)) return color
  return fallback
}

export const LANGUAGES = [
  { value: 'javascript', label: 'JavaScript' },
  { value: 'python', label: 'Python' },
  { value: 'html', label: 'HTML' }
]

export const isLanguage = (value) => LANGUAGES.some((l) => l.value === value)

export function joinLink (sessionId, invite) {
  return `${window.location.origin}/#/join/${encodeURIComponent(sessionId)}/${encodeURIComponent(invite)}`
}

export function editorHash (sessionId) {
  return `#/s/${encodeURIComponent(sessionId)}`
}

export function shareHash (sessionId) {
  return `#/share/${encodeURIComponent(sessionId)}`
}

/** "2024-05-01T12:00:00Z" -> local, human date-time; '' when unparsable. */
export function formatTime (iso) {
  if (!iso) return ''
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return ''
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}
