/*
 * The demo page plays the EHR side of CDS Hooks against this service's own endpoints.
 *
 * It sends exactly what an EHR sends (same JSON shape and headers, a fresh hookInstance per
 * call, the chosen MedicationRequest in a draftOrders Bundle, prefetch from the story) and
 * shows the cards as EHRs do. Card text is untrusted: it only ever reaches the DOM through
 * textContent / text nodes (see markdown.js); innerHTML is never used.
 */
(function () {
  "use strict";

  var SERVICES = {
    "order-select": "natalizumab-order-select",
    "order-sign": "natalizumab-order-sign"
  };
  var RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";
  // Natalizumab ingredient code (contract.md); brand names are carried in the text, as EHRs do.
  var NATALIZUMAB = { system: RXNORM, code: "354770", display: "natalizumab" };
  var MEDICATIONS = [
    {
      id: "tysabri",
      label: "Tysabri (natalizumab) 300 mg IV every 4 weeks",
      text: "Tysabri (natalizumab) 300 mg/15 mL injection",
      coding: [NATALIZUMAB],
      dosage: "300 mg intravenous infusion over 1 hour every 4 weeks"
    },
    {
      id: "tyruko",
      label: "Tyruko (natalizumab-sztn) 300 mg IV every 4 weeks",
      text: "Tyruko (natalizumab-sztn) 300 mg/15 mL injection",
      coding: [NATALIZUMAB],
      dosage: "300 mg intravenous infusion over 1 hour every 4 weeks"
    },
    {
      id: "fingolimod",
      label: "Fingolimod 0.5 mg capsule, once daily",
      text: "Fingolimod 0.5 mg oral capsule",
      coding: [],
      dosage: "0.5 mg by mouth once daily"
    },
    {
      id: "amoxicillin",
      label: "Amoxicillin 500 mg capsule, three times daily",
      text: "Amoxicillin 500 mg oral capsule",
      coding: [],
      dosage: "500 mg by mouth three times daily for 7 days"
    },
    { id: "other", label: "Other medication (free text)", text: "", coding: [], dosage: "" }
  ];
  // Icons are plain ASCII in a shaped badge (CSS): no reliance on emoji fonts.
  var INDICATORS = {
    critical: { icon: "!!", label: "Critical" },
    warning: { icon: "!", label: "Warning" },
    info: { icon: "i", label: "Information" }
  };

  var base = new URL(".", document.baseURI); // the service root: works behind a path prefix
  var state = { story: null, busy: false };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // crypto.randomUUID needs a secure context; getRandomValues does not.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20),
      hex.slice(20)].join("-");
  }

  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  function setStatus(message, isError) {
    var status = $("status");
    status.textContent = message;
    status.classList.toggle("is-error", Boolean(isError));
  }

  /** POST JSON like an EHR and record the exchange in the side panel ("hook" or "feedback"). */
  function postJson(path, body, panel) {
    var url = new URL(path, base);
    var started = performance.now();
    $(panel + "-endpoint").textContent = "POST " + url.pathname;
    $(panel + "-request").textContent = pretty(body);
    $(panel + "-response").textContent = "";
    $(panel + "-status").textContent = "…";
    $(panel + "-latency").textContent = "…";
    return fetch(url.href, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var elapsed = performance.now() - started;
        var data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch (e) {
          data = null;
        }
        $(panel + "-status").textContent = String(response.status);
        $(panel + "-latency").textContent = elapsed.toFixed(0) + " ms";
        $(panel + "-response").textContent = data !== null ? pretty(data) : text;
        return { ok: response.ok, status: response.status, data: data, elapsed: elapsed };
      });
    }, function (error) {
      $(panel + "-status").textContent = "network error";
      $(panel + "-latency").textContent = "—";
      throw error;
    });
  }

  function errorSentence(result) {
    var detail = result.data && typeof result.data.message === "string" ? result.data.message : "";
    return "The service answered HTTP " + result.status + (detail ? ": " + detail : ".");
  }

  // ---------------------------------------------------------------- stories

  function loadStories() {
    return fetch(new URL("demo/stories", base).href, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        var select = $("story");
        select.textContent = "";
        (data.stories || []).forEach(function (story) {
          var option = el("option", null, story.title || story.name);
          option.value = story.name;
          option.dataset.description = story.description || "";
          select.appendChild(option);
        });
        $("stories-message").textContent = data.message || "";
        var wanted = new URLSearchParams(window.location.search).get("story");
        if (wanted && Array.prototype.some.call(select.options, function (o) {
          return o.value === wanted;
        })) {
          select.value = wanted;
        }
        if (select.value) return loadStory(select.value);
        return null;
      })
      .catch(function () {
        $("story").textContent = "";
        setStatus("Could not load the patient stories from this service.", true);
      });
  }

  function loadStory(name) {
    var ticket = (state.storyTicket = (state.storyTicket || 0) + 1);
    state.storyName = name;
    $("story-description").textContent = "Loading…";
    return fetch(new URL("demo/stories/" + encodeURIComponent(name), base).href, {
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (story) {
        if (ticket !== state.storyTicket) return; // a later choice won the race
        state.story = story;
        $("story-description").textContent = story.description || "";
        var topics = Array.isArray(story.expected_topics) ? story.expected_topics : [];
        $("story-expected").textContent = "Cards expected for this story's own order: " +
          (topics.length ? topics.join(", ") : "none") + ".";
        var request = story.request || {};
        $("fhir-data").value = pretty(request.prefetch || {});
        $("fhir-data-error").textContent = "";
        showStoryOrders();
        clearCards();
        setStatus("Story loaded: " + (story.title || story.name) + ". Choose a medication, then Select or Sign.");
      })
      .catch(function () {
        if (ticket !== state.storyTicket) return;
        $("story-description").textContent = "";
        setStatus("Could not load this story.", true);
      });
  }

  // ---------------------------------------------------------------- the hook call

  function chosenMedication() {
    var checked = document.querySelector("input[name=medication]:checked");
    var id = checked ? checked.value : "tysabri";
    if (id === "story") return { id: "story" };
    var choice = MEDICATIONS[0];
    MEDICATIONS.forEach(function (medication) {
      if (medication.id === id) choice = medication;
    });
    if (choice.id === "other") {
      return { id: "other", text: $("other-medication").value.trim(), coding: [], dosage: "" };
    }
    return choice;
  }

  function medicationRequest(medication, patientId, userId) {
    var concept = { text: medication.text };
    if (medication.coding.length) concept.coding = medication.coding;
    var resource = {
      resourceType: "MedicationRequest",
      id: "demo-order-" + uuid().slice(0, 8),
      status: "draft",
      intent: "order",
      medicationCodeableConcept: concept,
      subject: { reference: "Patient/" + patientId },
      authoredOn: new Date().toISOString(),
      requester: { reference: userId }
    };
    if (medication.dosage) resource.dosageInstruction = [{ text: medication.dosage }];
    return resource;
  }

  function reference(resource) {
    return resource.resourceType + "/" + resource.id;
  }

  /**
   * The story's own orders, split into its trigger orders (the selected ones, or all of them)
   * and the other drafts still in the basket. A CDS Hooks 1.0 story's ``medications`` (a Bundle
   * or a bare array) counts as its draft orders.
   */
  function storyOrders() {
    var storyContext = ((state.story && state.story.request) || {}).context || {};
    var source = storyContext.draftOrders || storyContext.medications;
    var items = Array.isArray(source) ? source
      : source && Array.isArray(source.entry) ? source.entry.map(function (entry) {
        return entry && entry.resource;
      }) : [];
    var drafts = items.filter(function (resource) {
      return resource && typeof resource === "object" && resource.resourceType;
    });
    var selections = Array.isArray(storyContext.selections) ? storyContext.selections : null;
    var trigger = drafts.filter(function (resource) {
      return !selections || selections.indexOf(reference(resource)) >= 0;
    });
    var others = drafts.filter(function (resource) {
      return trigger.indexOf(resource) < 0;
    });
    return { all: drafts, trigger: trigger, others: others };
  }

  function describeOrder(resource) {
    var concept = resource.medicationCodeableConcept || resource.code || {};
    var coding = Array.isArray(concept.coding) && concept.coding.length ? concept.coding[0] : {};
    return concept.text || coding.display || resource.resourceType || "order";
  }

  /** Show the story's order as the first medication choice, and what else is in the basket. */
  function showStoryOrders() {
    var orders = storyOrders();
    var storyChoice = $("medication-story");
    var storyRow = storyChoice.closest(".choice");
    if (orders.trigger.length) {
      $("medication-story-label").textContent =
        "This story's order: " + orders.trigger.map(describeOrder).join("; ");
      storyRow.hidden = false;
      storyChoice.disabled = false;
      storyChoice.checked = true;
    } else {
      storyRow.hidden = true;
      storyChoice.disabled = true;
      if (storyChoice.checked) $("medication-tysabri").checked = true;
    }
    $("basket").textContent = orders.others.length
      ? "Also in the order basket (not selected): " + orders.others.map(describeOrder).join("; ") + "."
      : "";
  }

  function buildRequest(hook, prefetch, medication) {
    var storyRequest = (state.story && state.story.request) || {};
    var storyContext = storyRequest.context || {};
    var patientId = (prefetch.patient && prefetch.patient.id) || storyContext.patientId || "demo-patient";
    var userId = storyContext.userId || storyContext.user || "Practitioner/demo-prescriber";
    var orders = storyOrders();
    var drafts;
    var selected;
    if (medication.id === "story") {
      drafts = orders.all;
      selected = orders.trigger;
    } else {
      var order = medicationRequest(medication, patientId, userId);
      drafts = orders.others.concat([order]);
      selected = [order];
    }
    var context = { userId: userId, patientId: patientId };
    if (storyContext.encounterId) context.encounterId = storyContext.encounterId;
    if (hook === "order-select") context.selections = selected.map(reference);
    context.draftOrders = {
      resourceType: "Bundle",
      type: "collection",
      entry: drafts.map(function (resource) {
        return { resource: resource };
      })
    };
    return {
      hookInstance: uuid(),
      hook: hook,
      context: context,
      prefetch: prefetch
    };
  }

  function readPrefetch() {
    var errorNode = $("fhir-data-error");
    errorNode.textContent = "";
    var raw = $("fhir-data").value.trim();
    var parsed;
    try {
      parsed = raw ? JSON.parse(raw) : {};
    } catch (e) {
      errorNode.textContent = "The patient data is not valid JSON: " + e.message;
      $("fhir-data").focus();
      return null;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      errorNode.textContent = "The patient data must be a JSON object of prefetch keys.";
      $("fhir-data").focus();
      return null;
    }
    return parsed;
  }

  function fire(hook) {
    if (state.busy) return;
    var prefetch = readPrefetch();
    if (!prefetch) return;
    var medication = chosenMedication();
    if (medication.id === "other" && !medication.text) {
      setStatus("Type the name of the other medication first.", true);
      $("other-medication").focus();
      return;
    }
    var serviceId = SERVICES[hook];
    var body = buildRequest(hook, prefetch, medication);
    state.busy = true;
    setButtonsBusy(true);
    clearCards();
    setStatus("Calling " + serviceId + "…");
    postJson("cds-services/" + serviceId, body, "hook")
      .then(function (result) {
        if (!result.ok || !result.data || !Array.isArray(result.data.cards)) {
          setStatus(errorSentence(result), true);
          return;
        }
        renderCards(result.data.cards, serviceId);
        var count = result.data.cards.length;
        setStatus(hook + ": " + (count === 0 ? "no cards" : count + (count === 1 ? " card" : " cards")) +
          " in " + result.elapsed.toFixed(0) + " ms.");
      })
      .catch(function () {
        setStatus("The service could not be reached.", true);
      })
      .then(function () {
        state.busy = false;
        setButtonsBusy(false);
      });
  }

  // aria-disabled rather than disabled: a disabled button would drop keyboard focus.
  function setButtonsBusy(busy) {
    ["select-button", "sign-button"].forEach(function (id) {
      $(id).setAttribute("aria-disabled", busy ? "true" : "false");
    });
    $("order-form").setAttribute("aria-busy", busy ? "true" : "false");
  }

  // ---------------------------------------------------------------- cards

  function clearCards() {
    $("cards").textContent = "";
    $("accepted-list").textContent = "";
    $("accepted-orders").hidden = true;
  }

  function renderCards(cards, serviceId) {
    var container = $("cards");
    container.textContent = "";
    cards.forEach(function (card, index) {
      container.appendChild(renderCard(card, serviceId, index));
    });
  }

  function codingText(coding) {
    if (!coding || typeof coding !== "object") return "";
    return coding.display || coding.code || "";
  }

  function renderCard(card, serviceId, index) {
    var indicator = Object.prototype.hasOwnProperty.call(INDICATORS, card.indicator)
      ? card.indicator : "info";
    var article = el("article", "card card-" + indicator);
    var headingId = "card-" + index + "-summary";
    article.setAttribute("aria-labelledby", headingId);
    if (card.source && card.source.topic && card.source.topic.code) {
      article.dataset.topic = String(card.source.topic.code);
    }
    article.dataset.indicator = indicator;

    var header = el("header", "card-header");
    var icon = el("span", "card-icon", INDICATORS[indicator].icon);
    icon.setAttribute("aria-hidden", "true");
    header.appendChild(icon);
    var heading = el("h3", "card-summary");
    heading.id = headingId;
    heading.appendChild(el("span", "visually-hidden", INDICATORS[indicator].label + ": "));
    heading.appendChild(document.createTextNode(card.summary || ""));
    header.appendChild(heading);
    header.appendChild(el("span", "card-badge", INDICATORS[indicator].label));
    article.appendChild(header);

    if (card.detail) {
      article.appendChild(renderDetail(String(card.detail)));
    }

    article.appendChild(renderSource(card.source));

    if (Array.isArray(card.links) && card.links.length) {
      article.appendChild(renderLinks(card.links));
    }

    var feedbackStatus = el("p", "feedback-status");
    feedbackStatus.setAttribute("role", "status");

    var controls = [];
    if (Array.isArray(card.suggestions) && card.suggestions.length) {
      article.appendChild(renderSuggestions(card, serviceId, feedbackStatus, controls));
    }
    if (Array.isArray(card.overrideReasons) && card.overrideReasons.length) {
      article.appendChild(renderOverride(card, serviceId, feedbackStatus, controls, index));
    }
    article.appendChild(feedbackStatus);
    return article;
  }

  /**
   * The detail's first block stays visible; the rest (facts used, sources) folds into a native
   * <details>, as EHRs keep cards short but let the clinician open the evidence.
   */
  function renderDetail(markdown) {
    var detail = el("div", "card-detail");
    var fragment = window.SafeMarkdown.render(markdown);
    if (fragment.firstChild) detail.appendChild(fragment.firstChild);
    if (fragment.firstChild) {
      var more = el("details", "card-more");
      more.appendChild(el("summary", null, "Evidence and sources"));
      more.appendChild(fragment);
      detail.appendChild(more);
    }
    return detail;
  }

  function renderSource(source) {
    var footer = el("p", "card-source");
    footer.appendChild(document.createTextNode("Source: "));
    source = source || {};
    var label = source.label || "unknown";
    var href = source.url ? window.SafeMarkdown.safeUrl(String(source.url)) : null;
    if (href) {
      var link = el("a", null, label);
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      footer.appendChild(link);
    } else {
      footer.appendChild(document.createTextNode(label));
    }
    var topic = codingText(source.topic);
    if (topic) {
      footer.appendChild(document.createTextNode(" · Topic: "));
      footer.appendChild(el("span", "card-topic", topic));
    }
    return footer;
  }

  function renderLinks(links) {
    var nav = el("ul", "card-links");
    links.forEach(function (link) {
      var li = el("li");
      var href = link && link.url ? window.SafeMarkdown.safeUrl(String(link.url)) : null;
      var label = (link && link.label) || (link && link.url) || "link";
      if (href) {
        var anchor = el("a", null, label);
        anchor.href = href;
        anchor.target = "_blank";
        anchor.rel = "noopener noreferrer";
        li.appendChild(anchor);
        if (link.type === "smart") li.appendChild(el("span", "hint", " (SMART app)"));
      } else {
        li.textContent = label;
      }
      nav.appendChild(li);
    });
    return nav;
  }

  function renderSuggestions(card, serviceId, statusNode, controls) {
    var group = el("div", "card-suggestions");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Suggestions");
    card.suggestions.forEach(function (suggestion) {
      var button = el("button", suggestion.isRecommended ? "suggestion recommended" : "suggestion",
        suggestion.label || "Accept suggestion");
      button.type = "button";
      if (suggestion.isRecommended) button.title = "Recommended";
      button.addEventListener("click", function () {
        sendFeedback(serviceId, {
          card: card.uuid,
          outcome: "accepted",
          acceptedSuggestions: [{ id: suggestion.uuid }],
          outcomeTimestamp: new Date().toISOString()
        }, statusNode, controls, "Suggestion accepted: " + (suggestion.label || "") + ".", function () {
          addAcceptedActions(suggestion);
        });
      });
      controls.push(button);
      group.appendChild(button);
    });
    return group;
  }

  function renderOverride(card, serviceId, statusNode, controls, index) {
    var wrap = el("div", "card-override");
    var selectId = "override-" + index;
    var label = el("label", null, "Override reason");
    label.htmlFor = selectId;
    var select = el("select");
    select.id = selectId;
    select.appendChild(el("option", null, "Choose a reason…"));
    select.options[0].value = "";
    card.overrideReasons.forEach(function (reason, position) {
      var option = el("option", null, codingText(reason) || "reason " + (position + 1));
      option.value = String(position);
      select.appendChild(option);
    });
    var commentId = "override-comment-" + index;
    var commentLabel = el("label", null, "Comment (optional)");
    commentLabel.htmlFor = commentId;
    var comment = el("input");
    comment.type = "text";
    comment.id = commentId;
    comment.maxLength = 500;
    var button = el("button", "override", "Override");
    button.type = "button";
    button.addEventListener("click", function () {
      if (select.value === "") {
        statusNode.textContent = "Choose an override reason first.";
        statusNode.classList.add("is-error");
        select.focus();
        return;
      }
      var overrideReason = { reason: card.overrideReasons[Number(select.value)] };
      if (comment.value.trim()) overrideReason.userComment = comment.value.trim();
      sendFeedback(serviceId, {
        card: card.uuid,
        outcome: "overridden",
        overrideReason: overrideReason,
        outcomeTimestamp: new Date().toISOString()
      }, statusNode, controls, "Card overridden: " + codingText(overrideReason.reason) + ".");
    });
    controls.push(select, comment, button);
    wrap.appendChild(label);
    wrap.appendChild(select);
    wrap.appendChild(commentLabel);
    wrap.appendChild(comment);
    wrap.appendChild(button);
    return wrap;
  }

  function sendFeedback(serviceId, item, statusNode, controls, doneMessage, onDone) {
    controls.forEach(function (control) {
      control.disabled = true;
    });
    statusNode.classList.remove("is-error");
    statusNode.textContent = "Sending feedback…";
    postJson("cds-services/" + serviceId + "/feedback", { feedback: [item] }, "feedback")
      .then(function (result) {
        if (!result.ok) {
          statusNode.textContent = "Feedback not recorded. " + errorSentence(result);
          statusNode.classList.add("is-error");
          controls.forEach(function (control) {
            control.disabled = false;
          });
          return;
        }
        statusNode.textContent = doneMessage + " Feedback recorded.";
        statusNode.classList.add("is-done");
        // The pressed control is now disabled; keep keyboard focus on the card's outcome.
        statusNode.tabIndex = -1;
        statusNode.focus();
        var card = statusNode.closest(".card");
        if (card) card.classList.add("card-resolved");
        if (onDone) onDone();
      })
      .catch(function () {
        statusNode.textContent = "Feedback not recorded: the service could not be reached.";
        statusNode.classList.add("is-error");
        controls.forEach(function (control) {
          control.disabled = false;
        });
      });
  }

  function addAcceptedActions(suggestion) {
    var list = $("accepted-list");
    (suggestion.actions || []).forEach(function (action) {
      var text = action.description || action.type || "action";
      list.appendChild(el("li", null, (action.type ? action.type + ": " : "") + text));
    });
    if (!(suggestion.actions || []).length) list.appendChild(el("li", null, suggestion.label || ""));
    $("accepted-orders").hidden = false;
  }

  // ---------------------------------------------------------------- set-up

  function renderMedicationChoices() {
    var container = $("medications");
    var storyRow = el("div", "choice");
    storyRow.hidden = true;
    var storyInput = el("input");
    storyInput.type = "radio";
    storyInput.name = "medication";
    storyInput.id = "medication-story";
    storyInput.value = "story";
    storyInput.disabled = true;
    var storyLabel = el("label", null, "This story's order");
    storyLabel.id = "medication-story-label";
    storyLabel.htmlFor = storyInput.id;
    storyRow.appendChild(storyInput);
    storyRow.appendChild(storyLabel);
    container.appendChild(storyRow);
    MEDICATIONS.forEach(function (medication, position) {
      var row = el("div", "choice");
      var input = el("input");
      input.type = "radio";
      input.name = "medication";
      input.id = "medication-" + medication.id;
      input.value = medication.id;
      if (position === 0) input.checked = true;
      var label = el("label", null, medication.label);
      label.htmlFor = input.id;
      row.appendChild(input);
      row.appendChild(label);
      container.appendChild(row);
    });
    var otherLabel = el("label", "other-label", "Other medication name");
    otherLabel.htmlFor = "other-medication";
    var other = el("input");
    other.type = "text";
    other.id = "other-medication";
    other.maxLength = 200;
    other.addEventListener("input", function () {
      if (other.value.trim()) $("medication-other").checked = true;
    });
    container.appendChild(otherLabel);
    container.appendChild(other);
  }

  function init() {
    renderMedicationChoices();
    $("story").addEventListener("change", function (event) {
      var name = event.target.value;
      // A change event for the story already shown (or loading) must not reload it: the
      // reload would reset the medication choice and clear cards the user has since asked for.
      if (name && name !== state.storyName) loadStory(name);
    });
    $("select-button").addEventListener("click", function () {
      fire("order-select");
    });
    $("sign-button").addEventListener("click", function () {
      fire("order-sign");
    });
    $("order-form").addEventListener("submit", function (event) {
      event.preventDefault();
    });
    loadStories();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
