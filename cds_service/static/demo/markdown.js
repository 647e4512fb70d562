/*
 * A deliberately tiny, safe markdown renderer for CDS card details.
 *
 * Why not a library or innerHTML: card text comes from a remote CDS service and must be
 * treated as untrusted. Every piece of text here becomes a DOM text node (createTextNode /
 * textContent), so no HTML in a card can ever reach the DOM as markup. Links are kept only
 * for http: and https: URLs; anything else (javascript:, data:, relative) is shown as text.
 *
 * Supported: headings, paragraphs, bullet and numbered lists (nested by indentation),
 * block quotes, fenced code, pipe tables, horizontal rules, **bold**, *emphasis*, `code`
 * and [links](https://...).
 */
(function (global) {
  "use strict";

  var MAX_DEPTH = 8; // nesting bound for quotes and inline markup: bounded work on any input

  function el(tag, className) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  function safeUrl(href) {
    try {
      var url = new URL(href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  var ESCAPABLE = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"; // CommonMark: any ASCII punctuation
  var LINK = /^\[([^\]]*)\]\(\s*<?([^()\s<>]*)>?(?:\s+"[^"]*")?\s*\)/;

  function appendInline(parent, text, depth) {
    var buffer = "";
    var i = 0;
    function flush() {
      if (buffer) {
        parent.appendChild(document.createTextNode(buffer));
        buffer = "";
      }
    }
    while (i < text.length) {
      var ch = text.charAt(i);
      var next = text.charAt(i + 1);
      if (ch === "\\" && next && ESCAPABLE.indexOf(next) >= 0) {
        buffer += next;
        i += 2;
        continue;
      }
      if (depth < MAX_DEPTH) {
        if (ch === "`") {
          var codeEnd = text.indexOf("`", i + 1);
          if (codeEnd > i + 1) {
            flush();
            var code = el("code");
            code.textContent = text.slice(i + 1, codeEnd);
            parent.appendChild(code);
            i = codeEnd + 1;
            continue;
          }
        }
        if ((ch === "*" || ch === "_") && next === ch) {
          var strongEnd = text.indexOf(ch + ch, i + 2);
          if (strongEnd > i + 2) {
            flush();
            var strong = el("strong");
            appendInline(strong, text.slice(i + 2, strongEnd), depth + 1);
            parent.appendChild(strong);
            i = strongEnd + 2;
            continue;
          }
        }
        if ((ch === "*" || ch === "_") && next && next !== " " && next !== ch) {
          var before = i > 0 ? text.charAt(i - 1) : " ";
          // "_" inside a word (snake_case, identifiers) is not emphasis.
          if (ch === "*" || !/[A-Za-z0-9]/.test(before)) {
            var emEnd = text.indexOf(ch, i + 1);
            var after = text.charAt(emEnd + 1);
            if (emEnd > i + 1 && text.charAt(emEnd - 1) !== " " &&
                (ch === "*" || !/[A-Za-z0-9]/.test(after))) {
              flush();
              var em = el("em");
              appendInline(em, text.slice(i + 1, emEnd), depth + 1);
              parent.appendChild(em);
              i = emEnd + 1;
              continue;
            }
          }
        }
        if (ch === "[") {
          var match = LINK.exec(text.slice(i));
          if (match) {
            flush();
            var href = safeUrl(match[2]);
            if (href) {
              var link = el("a");
              link.href = href;
              link.target = "_blank";
              link.rel = "noopener noreferrer";
              appendInline(link, match[1] || href, depth + 1);
              parent.appendChild(link);
            } else {
              appendInline(parent, match[1], depth + 1);
            }
            i += match[0].length;
            continue;
          }
        }
      }
      buffer += ch;
      i += 1;
    }
    flush();
  }

  var HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
  var RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  var BULLET = /^(\s*)([-*+])\s+(.*)$/;
  var ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
  var QUOTE = /^\s{0,3}>\s?(.*)$/;
  var FENCE = /^\s{0,3}(```|~~~)/;
  var TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

  function splitRow(line) {
    var trimmed = line.trim();
    if (trimmed.charAt(0) === "|") trimmed = trimmed.slice(1);
    if (trimmed.charAt(trimmed.length - 1) === "|" && trimmed.charAt(trimmed.length - 2) !== "\\") {
      trimmed = trimmed.slice(0, -1);
    }
    var cells = [];
    var cell = "";
    for (var i = 0; i < trimmed.length; i += 1) {
      var ch = trimmed.charAt(i);
      if (ch === "\\" && trimmed.charAt(i + 1) === "|") {
        cell += "|";
        i += 1;
      } else if (ch === "|") {
        cells.push(cell.trim());
        cell = "";
      } else {
        cell += ch;
      }
    }
    cells.push(cell.trim());
    return cells;
  }

  // Heading levels are shifted so that a card's "# Title" sits below the card's own h3.
  function headingTag(level) {
    return "h" + Math.min(6, level + 3);
  }

  function renderBlocks(container, lines, depth) {
    var paragraph = null;
    var lists = []; // stack of {indent, type, node}
    var i = 0;

    function closeParagraph() {
      paragraph = null;
    }
    function closeLists() {
      lists = [];
    }

    while (i < lines.length) {
      var line = lines[i];
      var m;

      if (!line.trim()) {
        closeParagraph();
        // A blank line ends a list unless the next line continues it.
        var following = lines[i + 1] || "";
        if (!BULLET.test(following) && !ORDERED.test(following) && !/^\s{2,}\S/.test(following)) {
          closeLists();
        }
        i += 1;
        continue;
      }

      if (FENCE.test(line)) {
        closeParagraph();
        closeLists();
        var fence = FENCE.exec(line)[1];
        var codeLines = [];
        i += 1;
        while (i < lines.length && lines[i].trim().indexOf(fence) !== 0) {
          codeLines.push(lines[i]);
          i += 1;
        }
        i += 1; // skip the closing fence (or the end)
        var pre = el("pre");
        var code = el("code");
        code.textContent = codeLines.join("\n");
        pre.appendChild(code);
        container.appendChild(pre);
        continue;
      }

      if ((m = HEADING.exec(line))) {
        closeParagraph();
        closeLists();
        var heading = el(headingTag(m[1].length));
        appendInline(heading, m[2], 0);
        container.appendChild(heading);
        i += 1;
        continue;
      }

      if (RULE.test(line) && !paragraph) {
        closeLists();
        container.appendChild(el("hr"));
        i += 1;
        continue;
      }

      if (QUOTE.test(line) && depth < MAX_DEPTH) {
        closeParagraph();
        closeLists();
        var quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) {
          quoted.push(QUOTE.exec(lines[i])[1]);
          i += 1;
        }
        var quote = el("blockquote");
        renderBlocks(quote, quoted, depth + 1);
        container.appendChild(quote);
        continue;
      }

      if (line.indexOf("|") >= 0 && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
        closeParagraph();
        closeLists();
        var table = el("table");
        var thead = el("thead");
        var headRow = el("tr");
        splitRow(line).forEach(function (text) {
          var th = el("th");
          th.scope = "col";
          appendInline(th, text, 0);
          headRow.appendChild(th);
        });
        thead.appendChild(headRow);
        table.appendChild(thead);
        var tbody = el("tbody");
        i += 2;
        while (i < lines.length && lines[i].trim() && lines[i].indexOf("|") >= 0) {
          var row = el("tr");
          splitRow(lines[i]).forEach(function (text) {
            var td = el("td");
            appendInline(td, text, 0);
            row.appendChild(td);
          });
          tbody.appendChild(row);
          i += 1;
        }
        table.appendChild(tbody);
        var wrapper = el("div", "table-wrap");
        wrapper.appendChild(table);
        container.appendChild(wrapper);
        continue;
      }

      var bullet = BULLET.exec(line);
      var ordered = bullet ? null : ORDERED.exec(line);
      if (bullet || ordered) {
        closeParagraph();
        var item = bullet || ordered;
        var indent = item[1].replace(/\t/g, "    ").length;
        var type = bullet ? "ul" : "ol";
        while (lists.length && lists[lists.length - 1].indent > indent) lists.pop();
        var top = lists[lists.length - 1];
        if (top && top.indent === indent && top.type !== type) {
          lists.pop();
          top = lists[lists.length - 1];
        }
        if (!top || top.indent < indent) {
          if (lists.length >= MAX_DEPTH) {
            top = lists[lists.length - 1];
          } else {
            var list = el(type);
            if (ordered && item[2] !== "1") list.start = parseInt(item[2], 10);
            var parentNode = container;
            if (top && top.node.lastElementChild) parentNode = top.node.lastElementChild;
            parentNode.appendChild(list);
            top = { indent: indent, type: type, node: list };
            lists.push(top);
          }
        }
        var li = el("li");
        appendInline(li, item[3], 0);
        top.node.appendChild(li);
        i += 1;
        continue;
      }

      if (lists.length && /^\s+\S/.test(line)) {
        // Lazy continuation of the last list item.
        var lastList = lists[lists.length - 1].node;
        var lastItem = lastList.lastElementChild;
        if (lastItem) {
          lastItem.appendChild(document.createTextNode(" "));
          appendInline(lastItem, line.trim(), 0);
          i += 1;
          continue;
        }
      }

      closeLists();
      var hardBreak = /( {2,}|\\)$/.test(line);
      var text = line.replace(/( {2,}|\\)$/, "").trim();
      if (!paragraph) {
        paragraph = el("p");
        container.appendChild(paragraph);
      } else if (!paragraph.lastChild || paragraph.lastChild.nodeName !== "BR") {
        paragraph.appendChild(document.createTextNode(" "));
      }
      appendInline(paragraph, text, 0);
      if (hardBreak) paragraph.appendChild(el("br"));
      i += 1;
    }
  }

  /** Render markdown text into a new DocumentFragment of safe DOM nodes. */
  function render(markdown) {
    var fragment = document.createDocumentFragment();
    if (typeof markdown !== "string" || !markdown) return fragment;
    renderBlocks(fragment, markdown.replace(/\r\n?/g, "\n").split("\n"), 0);
    return fragment;
  }

  global.SafeMarkdown = { render: render, safeUrl: safeUrl };
})(window);
