// Markdown for replies: marked for the text, KaTeX for $…$ / $$…$$ / \(…\) / \[…\], highlight.js for code.
// Model output is untrusted: raw HTML is shown as text, links keep only safe schemes, and images become links so
// the page never fetches from another host.

let configured = false;

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function safeHref(href) {
  if (!href) return null;
  const trimmed = href.trim();
  if (/^(https?:|mailto:|#|\/(?!\/))/i.test(trimmed)) return trimmed;
  return null;
}

function math(tex, display) {
  if (!window.katex) return escapeHtml(display ? `$$${tex}$$` : `$${tex}$`);
  return window.katex.renderToString(tex, { displayMode: display, throwOnError: false, output: 'html' });
}

function configure() {
  const { marked } = window;
  marked.use({
    gfm: true,
    breaks: false,
    extensions: [
      {
        name: 'blockMath', level: 'block',
        start(src) { const i = src.search(/\$\$|\\\[/); return i < 0 ? undefined : i; },
        tokenizer(src) {
          const m = /^\$\$([\s\S]+?)\$\$/.exec(src) || /^\\\[([\s\S]+?)\\\]/.exec(src);
          if (m) return { type: 'blockMath', raw: m[0], text: m[1].trim() };
          return undefined;
        },
        renderer(token) { return `<div class="math-block">${math(token.text, true)}</div>`; },
      },
      {
        name: 'inlineMath', level: 'inline',
        start(src) { const i = src.search(/\$|\\\(/); return i < 0 ? undefined : i; },
        tokenizer(src) {
          // Pandoc's rule keeps prices apart from maths: no space inside the dollars, no digit right after.
          const m = /^\$\$([^$]+?)\$\$/.exec(src) || /^\$(?=\S)([^$\n]*?\S)\$(?!\d)/.exec(src)
            || /^\\\(([\s\S]+?)\\\)/.exec(src);
          if (m) return { type: 'inlineMath', raw: m[0], text: m[1], display: m[0].startsWith('$$') };
          return undefined;
        },
        renderer(token) { return math(token.text, token.display); },
      },
    ],
    renderer: {
      html(token) { return escapeHtml(token.text ?? token.raw ?? ''); },
      link(token) {
        const href = safeHref(token.href);
        const text = this.parser.parseInline(token.tokens);
        return href ? `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${text}</a>` : text;
      },
      image(token) {
        const href = safeHref(token.href);
        const label = escapeHtml(token.text || 'image');
        return href ? `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">[${label}]</a>` : `[${label}]`;
      },
      code(token) {
        const lang = (token.lang || '').split(/\s/)[0];
        let body;
        if (window.hljs && lang && window.hljs.getLanguage(lang)) {
          body = window.hljs.highlight(token.text, { language: lang, ignoreIllegals: true }).value;
        } else {
          body = escapeHtml(token.text);
        }
        return `<pre><button class="copy-code" type="button">Copy</button><code class="hljs${lang ? ` language-${escapeHtml(lang)}` : ''}">${body}</code></pre>`;
      },
    },
  });
  configured = true;
}

/** Renders markdown to HTML; partial input (mid-stream) renders what is complete and leaves the rest as text. */
export function renderMarkdown(text) {
  if (!window.marked) return `<p>${escapeHtml(text)}</p>`;
  if (!configured) configure();
  return window.marked.parse(text);
}

/**
 * Splits a reply that carries its reasoning inline, `<think>…</think>` at the start, as models do when the server
 * does not split it out as reasoning_content.
 */
export function splitThinking(content) {
  const m = /^\s*<think>([\s\S]*?)(<\/think>|$)/.exec(content);
  if (!m) return { reasoning: '', content, thinking: false };
  return { reasoning: m[1], content: content.slice(m[0].length).replace(/^\s+/, ''), thinking: m[2] === '' };
}
