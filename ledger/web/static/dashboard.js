// ledger dashboard: reads the ledger API with the admin token and draws it. Plain JavaScript,
// no build step, nothing loaded from elsewhere. Text from the API (names, slugs, tags, alert
// messages) only ever goes into the page as text (textContent, attributes), never as markup.
(() => {
  "use strict";

  const TOKEN_KEY = "ledger.admin-token";
  const PAGE_LIMIT = 500;
  const MAX_PAGES = 20; // 10,000 items: beyond that the page says "+"
  const JOBS_SHOWN = 5;
  const ALERTS_SHOWN = 4;
  const MAX_BARS = 400; // a longer range is drawn in buckets of several days
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const SVG_NS = "http://www.w3.org/2000/svg";
  const number = new Intl.NumberFormat("en-US");
  const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

  const $ = (id) => document.getElementById(id);
  let token = null;
  let teams = []; // every team, for the filter
  let shown = null; // what is on screen: {query, teams, jobs, alerts, report}
  let loading = 0; // a newer load makes an older one's answer stale

  // -- small DOM helpers (text only) -----------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child); // strings become text nodes
    }
    return node;
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // Text that may be long: cut with an ellipsis by CSS, whole in the tooltip.
  function truncated(tag, text, className) {
    return el(tag, { class: className, title: text, text });
  }

  function credits(value) {
    return typeof value === "number" ? number.format(value) : "—";
  }

  function when(iso) {
    if (!iso) return "—";
    return iso.replace("T", " ").replace(/(\.\d+)?Z$/, "").slice(0, 16) + " UTC";
  }

  // -- dates (UTC calendar days as "YYYY-MM-DD") -----------------------------------------------

  function today() {
    return new Date().toISOString().slice(0, 10);
  }

  function addDays(day, count) {
    const moment = new Date(day + "T00:00:00Z");
    moment.setUTCDate(moment.getUTCDate() + count);
    return moment.toISOString().slice(0, 10);
  }

  function daysBetween(first, last) {
    return Math.round((Date.parse(last + "T00:00:00Z") - Date.parse(first + "T00:00:00Z")) / 864e5);
  }

  function monthOf(day) {
    const first = day.slice(0, 8) + "01";
    const next = new Date(first + "T00:00:00Z");
    next.setUTCMonth(next.getUTCMonth() + 1);
    return [first, addDays(next.toISOString().slice(0, 10), -1)];
  }

  function shortDay(day, withYear) {
    const label = MONTHS[Number(day.slice(5, 7)) - 1] + " " + Number(day.slice(8, 10));
    return withYear ? label + " " + day.slice(0, 4) : label;
  }

  // -- the API ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function request(path, params, bearer) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    let response;
    try {
      response = await fetch(url, {
        headers: { Authorization: "Bearer " + (bearer || token) },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      throw new ApiError(0, "network", "the ledger server did not answer (" + error.message + ")");
    }
    if (!response.ok) {
      let code = "http_" + response.status;
      let message = response.statusText || "request failed";
      try {
        const body = await response.json();
        code = body.error.code || code;
        message = body.error.message || message;
      } catch (ignored) {
        // not the JSON error shape: keep the status line
      }
      throw new ApiError(response.status, code, message);
    }
    return response;
  }

  async function getJson(path, params) {
    return (await request(path, params)).json();
  }

  // Every page of a list (up to MAX_PAGES); `more` says whether some were left.
  async function getAll(path, params) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const body = await getJson(path, { ...params, limit: PAGE_LIMIT, cursor });
      items.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) return { items, more: false };
    }
    return { items, more: true };
  }

  // -- signing in and out ----------------------------------------------------------------------

  function showLogin(message) {
    token = null;
    shown = null;
    sessionStorage.removeItem(TOKEN_KEY);
    for (const id of ["teams", "summary"]) $(id).replaceChildren();
    $("report").querySelector("thead").replaceChildren();
    $("report").querySelector("tbody").replaceChildren();
    $("report").querySelector("tfoot").replaceChildren();
    $("dashboard").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    const note = $("login-message");
    note.textContent = message || "";
    note.hidden = !message;
    $("token").value = "";
    $("token").focus();
  }

  function refusal(error) {
    if (error.status === 401) {
      return "The server refused this token (401 unauthorized). Use the admin token (LEDGER_ADMIN_TOKEN).";
    }
    if (error.status === 403) {
      return "This is a team key; the dashboard needs the admin token (403 forbidden).";
    }
    return "Could not sign in: " + error.message;
  }

  async function signIn(event) {
    event.preventDefault();
    const candidate = $("token").value.trim();
    if (!candidate) {
      showLogin("Enter the admin token.");
      return;
    }
    const button = event.submitter || $("login-form").querySelector("button");
    button.disabled = true;
    try {
      await request("/api/teams", { limit: 1 }, candidate);
    } catch (error) {
      showLogin(refusal(error));
      return;
    } finally {
      button.disabled = false;
    }
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, token);
    openDashboard();
  }

  function openDashboard() {
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = false;
    if (!$("from").value || !$("to").value) {
      const [first, last] = monthOf(today());
      $("from").value = first;
      $("to").value = last;
    }
    if (!$("chargeback-month").value) $("chargeback-month").value = today().slice(0, 7);
    load();
    loadChargeback();
  }

  // -- loading ---------------------------------------------------------------------------------

  function currentQuery() {
    return { team: $("team-filter").value, from: $("from").value, to: $("to").value };
  }

  // The API's report parameters for what the form says: `to` is exclusive there.
  function reportParams(query, format) {
    return {
      from: query.from,
      to: addDays(query.to, 1),
      group_by: "team,day",
      team: query.team || undefined,
      format,
    };
  }

  function setStatus(text, isError) {
    const status = $("status");
    status.textContent = text;
    status.className = isError ? "message error" : "message";
  }

  async function load() {
    const query = currentQuery();
    if (!query.from || !query.to) {
      setStatus("Choose both dates.", true);
      return;
    }
    if (query.to < query.from) {
      setStatus("The end date is before the start date.", true);
      return;
    }
    const mine = ++loading;
    setStatus("Loading…");
    $("apply").disabled = true;
    try {
      const only = query.team ? { team: query.team } : {};
      const [allTeams, reserved, submitted, unknown, alerts, report, drift] = await Promise.all([
        getAll("/api/teams"),
        getAll("/api/jobs", { status: "reserved", ...only }),
        getAll("/api/jobs", { status: "submitted", ...only }),
        getAll("/api/jobs", { status: "unknown", ...only }),
        getJson("/api/alerts", { limit: 200, ...only }),
        getJson("/api/reports/spend", reportParams(query, "json")),
        // spend no team's job owns (Magic Hour's webhooks named it): the account's, not a team's
        query.team ? Promise.resolve(null) : getJson("/api/drift", { from: query.from, to: query.to }),
      ]);
      if (mine !== loading) return;
      teams = allTeams.items;
      fillTeamFilter(query.team);
      const visible = query.team ? teams.filter((t) => t.slug === query.team) : teams;
      shown = {
        query,
        teams: visible,
        open: group([...reserved.items, ...submitted.items], "team"),
        openMore: reserved.more || submitted.more,
        unknown: group(unknown.items, "team"),
        unknownMore: unknown.more,
        alerts: group(alerts.items, "team"), // account-wide alerts (no team) under null
        report,
        bypass: drift ? drift.bypass : null,
      };
      render();
      setStatus("Updated " + new Date().toLocaleTimeString() + ".");
    } catch (error) {
      if (mine !== loading) return;
      if (error.status === 401 || error.status === 403) {
        showLogin(refusal(error));
        return;
      }
      setStatus("Could not load: " + error.message, true);
    } finally {
      if (mine === loading) $("apply").disabled = false;
    }
  }

  function group(items, field) {
    const byKey = new Map();
    for (const item of items) {
      if (!byKey.has(item[field])) byKey.set(item[field], []);
      byKey.get(item[field]).push(item);
    }
    return byKey;
  }

  function fillTeamFilter(selected) {
    const select = $("team-filter");
    const options = [el("option", { value: "", text: "All teams" })];
    for (const team of teams) {
      const label = team.name && team.name !== team.slug ? team.name + " (" + team.slug + ")" : team.slug;
      options.push(el("option", { value: team.slug, text: label }));
    }
    select.replaceChildren(...options);
    select.value = teams.some((t) => t.slug === selected) ? selected : "";
  }

  // -- drawing ---------------------------------------------------------------------------------

  function render() {
    if (!shown) return;
    const { query, report } = shown;
    const rowsByTeam = group(report.rows, "team");
    renderSummary();
    renderAccount();
    const cards = shown.teams.map((team) => teamCard(team, rowsByTeam.get(team.slug) || []));
    $("teams").replaceChildren(
      ...(cards.length ? cards : [el("p", { class: "none", text: "No teams yet: create one with ledger teams create." })]),
    );
    // Charts need their card's width, known once the cards are in the page.
    for (const team of shown.teams) {
      const host = $("teams").querySelector('[data-chart-for="' + CSS.escape(team.slug) + '"]');
      if (host) drawChart(host, rowsByTeam.get(team.slug) || [], query.from, query.to);
    }
    renderReport();
  }

  function sumRows(rows) {
    const sums = { jobs: 0, held: 0, spent: 0, released: 0 };
    for (const row of rows) for (const key of Object.keys(sums)) sums[key] += row[key] || 0;
    return sums;
  }

  function renderSummary() {
    const totals = shown.report.totals || {};
    let open = 0;
    let unknown = 0;
    for (const team of shown.teams) {
      open += (shown.open.get(team.slug) || []).length;
      unknown += (shown.unknown.get(team.slug) || []).length;
    }
    const items = [
      ["Teams", number.format(shown.teams.length), "teams"],
      ["Spent in range", credits(totals.spent), "spent"],
      ["Held in range", credits(totals.held), "held"],
      ["Released in range", credits(totals.released), "released"],
      ["Jobs in range", credits(totals.jobs), "jobs"],
      ["Open jobs", number.format(open) + (shown.openMore ? "+" : ""), "open"],
      ["Unknown jobs", number.format(unknown) + (shown.unknownMore ? "+" : ""), "unknown"],
    ];
    if (typeof totals.usd === "number") items.splice(2, 0, ["USD in range", "$" + decimal.format(totals.usd), "usd"]);
    if (shown.bypass) {
      const projects = shown.bypass.projects;
      const label = "Bypass spend (" + number.format(projects) + (projects === 1 ? " project)" : " projects)");
      items.push([label, credits(shown.bypass.credits), "bypass"]);
    }
    $("summary").replaceChildren(
      ...items.map(([label, value, field]) =>
        el("div", { "data-total": field }, el("dt", { text: label }), el("dd", { text: value })),
      ),
    );
  }

  function renderAccount() {
    // a team filter asks for that team's alerts only, so then there are none here
    const alerts = shown.alerts.get(null) || [];
    $("account").hidden = !alerts.length;
    $("account-alerts").replaceChildren(...(alerts.length ? [alertsList(alerts, null)] : []));
  }

  function teamCard(team, rows) {
    const balance = team.balance || {};
    const card = el("article", { class: "team", "data-team": team.slug, "aria-label": "Team " + team.slug });
    const title = el("div", {}, truncated("h3", team.name || team.slug, "name"), truncated("code", team.slug, "slug"));
    const period = el("span", {
      class: "period",
      text: (balance.period || team.period || "") + " · " + periodText(balance),
    });
    card.append(el("header", {}, title, period));

    // budget, held, spent, available for the current period
    const numbers = el("dl", { class: "numbers" });
    for (const [label, field] of [["Budget", "budget"], ["Held", "held"], ["Spent", "spent"], ["Available", "available"]]) {
      const value = balance[field];
      numbers.append(
        el(
          "div",
          {},
          el("dt", { text: label }),
          el("dd", {
            "data-field": field,
            "data-value": value,
            class: typeof value === "number" && value < 0 ? "negative" : null,
            text: credits(value),
          }),
        ),
      );
    }
    card.append(numbers, budgetBar(balance));

    // forecast, and this team's part of the report
    const spentInRange = sumRows(rows);
    const facts = el("dl", { class: "facts" });
    facts.append(
      fact("Projected run-out", runOutText(balance), "run-out"),
      fact("Burn rate (credits)", burnText(balance), "burn-rate"),
      fact("Spent in range", credits(spentInRange.spent), "range-spent"),
      fact("Jobs in range", credits(spentInRange.jobs), "range-jobs"),
    );
    card.append(facts);

    const chart = el("div", { class: "chart", "data-chart-for": team.slug });
    const zone = el("span", { class: "zone-name", text: shown.report.time_zone || "UTC" });
    card.append(el("div", {}, el("h4", {}, "Spend per day (", zone, ")"), chart));

    const open = shown.open.get(team.slug) || [];
    const unknown = shown.unknown.get(team.slug) || [];
    const alerts = shown.alerts.get(team.slug) || [];
    card.append(el("div", { class: "lists" }, jobsList(open, unknown), alertsList(alerts)));
    return card;
  }

  function fact(label, value, field) {
    return el("div", {}, el("dt", { text: label }), el("dd", { "data-field": field, title: value, text: value }));
  }

  function periodText(balance) {
    if (!balance.period_start) return "";
    const start = balance.period_start.slice(0, 10);
    if (!balance.period_end) return "since " + start;
    return start + " → " + addDays(balance.period_end.slice(0, 10), -1);
  }

  function runOutText(balance) {
    if (!("projected_run_out" in balance)) return "not forecast by this server";
    if (balance.projected_run_out) return balance.projected_run_out;
    if (!balance.burn_rate_per_day) return "— (no spend in the 7 days before today)";
    return "— (not before the period ends)";
  }

  // The server's rate is over the 7 whole days before today (steady through the day): say so,
  // or "0 per day" beside today's spend reads as a mistake.
  function burnText(balance) {
    if (typeof balance.burn_rate_per_day !== "number") return "—";
    const rate = decimal.format(balance.burn_rate_per_day) + " per day";
    if (balance.burn_rate_per_day) return rate + " (the 7 days before today)";
    return rate + " (the 7 days before today; today's spend counts from tomorrow)";
  }

  function budgetBar(balance) {
    const budget = Math.max(0, (balance.budget || 0) + Math.max(0, balance.adjustments || 0));
    const spent = Math.max(0, balance.spent || 0);
    const held = Math.max(0, balance.held || 0);
    const scale = Math.max(budget, spent + held, 1);
    const bar = el("div", {
      class: "bar",
      role: "img",
      "aria-label": "Spent " + credits(spent) + " and held " + credits(held) + " of a budget of " + credits(balance.budget),
      title: "spent " + credits(spent) + " · held " + credits(held) + " · budget " + credits(balance.budget),
    });
    const spentPart = el("span", { class: "spent" });
    spentPart.style.width = (100 * spent) / scale + "%";
    const heldPart = el("span", { class: "held" });
    heldPart.style.width = (100 * held) / scale + "%";
    bar.append(spentPart, heldPart);
    const over = spent + held > budget;
    if (over) {
      const mark = el("span", { class: "budget-mark", title: "budget" });
      mark.style.left = "calc(" + (100 * budget) / scale + "% - 1px)";
      bar.append(mark);
    }
    const used = budget > 0 ? Math.round((100 * (spent + held)) / budget) : null;
    const legend = el(
      "div",
      { class: "legend" },
      el("span", {}, el("i", { class: "spent" }), "spent"),
      el("span", {}, el("i", { class: "held" }), "held"),
      el("span", {}, el("i", { class: "available" }), "available"),
      used === null ? null : el("span", { class: over ? "over" : null, text: used + "% of budget used" + (over ? " (over budget)" : "") }),
    );
    return el("div", {}, bar, legend);
  }

  function jobsList(open, unknown) {
    const list = el("ul", { class: "items" });
    for (const job of [...unknown, ...open].slice(0, JOBS_SHOWN)) {
      const tags = Object.entries(job.tags || {}).map(([k, v]) => k + "=" + v).join(", ");
      const label = job.endpoint + (job.model ? " · " + job.model : "") + (tags ? " · " + tags : "");
      list.append(
        el(
          "li",
          { "data-job": job.id },
          el("span", { class: "badge " + job.status, text: job.status }),
          el("span", { class: "grow", title: job.id + " · " + label, text: label }),
          el("span", { class: "when", text: credits(job.held_credits) + " cr" }),
        ),
      );
    }
    const hidden = open.length + unknown.length - JOBS_SHOWN;
    if (hidden > 0) list.append(el("li", { class: "none", text: "and " + number.format(hidden) + " more" }));
    const heading = el(
      "h4",
      {},
      "Open jobs ",
      el("span", { "data-field": "open", text: number.format(open.length) }),
      " · unknown ",
      el("span", { "data-field": "unknown", class: unknown.length ? "over" : null, text: number.format(unknown.length) }),
    );
    const body = open.length + unknown.length ? list : el("p", { class: "none", text: "No open jobs." });
    return el("div", {}, heading, body);
  }

  function alertsList(alerts, title = "Recent alerts") {
    const heading = title ? el("h4", { text: title }) : null;
    if (!alerts.length) return el("div", {}, heading, el("p", { class: "none", text: "No alerts." }));
    const list = el("ul", { class: "items" });
    for (const alert of alerts.slice(0, ALERTS_SHOWN)) {
      list.append(
        el(
          "li",
          { "data-alert": alert.id },
          el("span", { class: "badge alert " + alert.kind, text: alert.kind }),
          el("span", { class: "grow", title: alert.message, text: alert.message }),
          el("span", { class: "when", text: when(alert.created_at).slice(5, 16) }),
        ),
      );
    }
    if (alerts.length > ALERTS_SHOWN) list.append(el("li", { class: "none", text: "and " + (alerts.length - ALERTS_SHOWN) + " more" }));
    return el("div", {}, heading, list);
  }

  // Spend per day as bars: spent, with held stacked on top; one bar per day (or per bucket of
  // days when the range is long), labels thinned so that they never overlap.
  function drawChart(host, rows, first, last) {
    const days = daysBetween(first, last) + 1;
    const bucket = Math.ceil(days / MAX_BARS);
    const count = Math.ceil(days / bucket);
    const bars = Array.from({ length: count }, (_, i) => ({
      day: addDays(first, i * bucket),
      lastDay: addDays(first, Math.min(days - 1, i * bucket + bucket - 1)),
      spent: 0,
      held: 0,
      jobs: 0,
    }));
    let any = false;
    for (const row of rows) {
      if (!row.day) continue;
      const index = Math.floor(daysBetween(first, row.day) / bucket);
      if (index < 0 || index >= count) continue;
      bars[index].spent += row.spent || 0;
      bars[index].held += row.held || 0;
      bars[index].jobs += row.jobs || 0;
      any = any || row.jobs > 0;
    }
    host.replaceChildren();
    if (!any) {
      host.append(el("p", { class: "chart-empty", text: "No spend from " + first + " to " + last + "." }));
      return;
    }
    const left = 44;
    const right = 8;
    const top = 8;
    const height = 130;
    const bottom = 20;
    const available = Math.max(200, host.clientWidth - 2);
    const slot = Math.max(5, (available - left - right) / count);
    const width = Math.ceil(left + right + slot * count);
    const plot = height - top - bottom;
    const peak = niceCeiling(Math.max(...bars.map((b) => b.spent + b.held)));
    const y = (value) => top + plot - (plot * value) / peak;
    const chart = svg("svg", {
      width,
      height,
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      "aria-label": "Spend per day from " + first + " to " + last,
    });
    for (const value of [0, peak / 2, peak]) {
      chart.append(svg("line", { class: value ? "grid" : "axis", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
      chart.append(svg("text", { x: left - 4, y: y(value) + 3, "text-anchor": "end" }, compact(value)));
    }
    const barWidth = Math.max(2, slot * 0.72);
    const withYear = first.slice(0, 4) !== last.slice(0, 4);
    const labelEvery = Math.ceil((withYear ? 72 : 46) / slot);
    bars.forEach((b, i) => {
      const x = left + i * slot + (slot - barWidth) / 2;
      const group = svg("g", { "data-day": b.day });
      const span = bucket > 1 ? b.day + " to " + b.lastDay : b.day;
      group.append(
        svg("title", {}, span + ": spent " + number.format(b.spent) + ", held " + number.format(b.held) + ", " + number.format(b.jobs) + " jobs"),
      );
      group.append(svg("rect", { class: "hit", x: left + i * slot, y: top, width: slot, height: plot }));
      if (b.spent) group.append(svg("rect", { class: "bar-spent", x, width: barWidth, y: y(b.spent), height: y(0) - y(b.spent) }));
      if (b.held) group.append(svg("rect", { class: "bar-held", x, width: barWidth, y: y(b.spent + b.held), height: y(b.spent) - y(b.spent + b.held) }));
      chart.append(group);
      if (i % labelEvery === 0) {
        chart.append(
          svg("text", { class: "x-label", x: left + i * slot + slot / 2, y: height - 6, "text-anchor": "middle" }, shortDay(b.day, withYear)),
        );
      }
    });
    host.append(chart);
  }

  function niceCeiling(value) {
    if (value <= 0) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  function compact(value) {
    if (value >= 1e6) return decimal.format(value / 1e6) + "M";
    if (value >= 1e4) return decimal.format(value / 1e3) + "k";
    return decimal.format(value);
  }

  function renderReport() {
    const { report, query } = shown;
    const measures = ["jobs", "held", "spent", "released"];
    if (report.rows.some((row) => "usd" in row) || "usd" in (report.totals || {})) measures.push("usd");
    const columns = [...report.group_by, ...measures];
    const table = $("report");
    table.querySelector("thead").replaceChildren(
      el("tr", {}, ...columns.map((c) => el("th", { scope: "col", class: measures.includes(c) ? "num" : null, text: c }))),
    );
    const cell = (column, value) =>
      measures.includes(column)
        ? el("td", { class: "num", text: column === "usd" ? decimal.format(value || 0) : credits(value) })
        : el("td", { class: "text", title: value ?? "", text: value ?? "" });
    table.querySelector("tbody").replaceChildren(
      ...(report.rows.length
        ? report.rows.map((row) => el("tr", {}, ...columns.map((c) => cell(c, row[c]))))
        : [el("tr", {}, el("td", { colspan: columns.length, class: "none", text: "No jobs in this range." }))]),
    );
    const totals = report.totals || {};
    table.querySelector("tfoot").replaceChildren(
      el(
        "tr",
        { "data-row": "totals" },
        ...columns.map((c, i) => {
          if (!measures.includes(c)) return el("td", { text: i === 0 ? "total" : "" });
          const td = cell(c, totals[c]);
          td.setAttribute("data-total", c);
          td.setAttribute("data-value", totals[c] ?? "");
          return td;
        }),
      ),
    );
    const who = query.team ? "team " + query.team : "all teams";
    const zone = report.time_zone || "UTC";
    for (const label of document.querySelectorAll(".zone-name")) label.textContent = zone;
    $("report-caption").textContent =
      who + ", by team and day, jobs created " + query.from + " to " + query.to + " (" + zone + " days, both included): " +
      number.format(report.rows.length) + " rows.";
  }

  // -- the CSV of the report shown -------------------------------------------------------------

  // Save a response as a file, under the name its Content-Disposition gives (else `fallback`).
  async function saveDownload(response, fallback) {
    const blob = await response.blob();
    const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const link = el("a", { href: URL.createObjectURL(blob), download: match ? match[1] : fallback });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    return link.download;
  }

  async function downloadCsv() {
    if (!shown) return;
    const query = shown.query;
    const button = $("download-csv");
    button.disabled = true;
    try {
      const response = await request("/api/reports/spend", reportParams(query, "csv"));
      const name = await saveDownload(response, "spend_" + query.from + "_" + query.to + ".csv");
      setStatus("Downloaded " + name + ".");
    } catch (error) {
      if (error.status === 401 || error.status === 403) showLogin(refusal(error));
      else setStatus("Could not download the CSV: " + error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  // -- the chargeback of a billing month -------------------------------------------------------

  const CHARGEBACK_COLUMNS = ["team", "jobs", "held", "credits", "usd"];
  let chargebackLoading = 0;

  function chargebackParams(format) {
    return { month: $("chargeback-month").value, invoice_usd: $("invoice-usd").value.trim(), format };
  }

  async function loadChargeback() {
    const params = chargebackParams();
    const caption = $("chargeback-caption");
    if (!params.month) {
      caption.textContent = "Choose a month.";
      return;
    }
    const mine = ++chargebackLoading;
    caption.textContent = "Loading the chargeback of " + params.month + "…";
    try {
      const found = await getJson("/api/reports/chargeback", params);
      if (mine === chargebackLoading) renderChargeback(found);
    } catch (error) {
      if (mine !== chargebackLoading) return;
      if (error.status === 401 || error.status === 403) showLogin(refusal(error));
      else {
        caption.textContent = "Could not show the chargeback: " + error.message;
        $("chargeback").querySelector("tbody").replaceChildren();
        $("chargeback").querySelector("tfoot").replaceChildren();
      }
    }
  }

  function renderChargeback(found) {
    const table = $("chargeback");
    const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    const cells = (row, label) =>
      CHARGEBACK_COLUMNS.map((column) => {
        if (column === "team") return el("td", { class: "text", title: label, text: label });
        const value = row[column];
        const td = el("td", {
          class: "num",
          text: value === null || value === undefined ? "" : column === "usd" ? money.format(value) : credits(value),
        });
        td.setAttribute("data-column", column);
        td.setAttribute("data-value", column === "usd" ? String(row.usd_cents) : value ?? "");
        return td;
      });
    table.querySelector("thead").replaceChildren(
      el("tr", {}, ...CHARGEBACK_COLUMNS.map((c) => el("th", { scope: "col", class: c === "team" ? null : "num", text: c }))),
    );
    table.querySelector("tbody").replaceChildren(
      ...(found.rows.length
        ? found.rows.map((row) =>
            el(
              "tr",
              { "data-chargeback-row": row.unattributed ? "(unattributed)" : row.team },
              ...cells(row, row.unattributed ? "(unattributed)" : row.team),
            ),
          )
        : [el("tr", {}, el("td", { colspan: CHARGEBACK_COLUMNS.length, class: "none", text: "No spend in this month." }))]),
    );
    table.querySelector("tfoot").replaceChildren(el("tr", { "data-chargeback-row": "total" }, ...cells(found.totals, "total")));
    const priced = found.usd_basis === "plan" ? "the " + found.plan + " plan's bands" : "LEDGER_USD_PER_CREDIT";
    $("chargeback-caption").textContent =
      "Billing month " + found.month + " (" + found.time_zone + "), invoice $" + money.format(found.invoice.usd) +
      " (" + (found.invoice.source === "given" ? "as given" : "computed at " + priced) + "), shared by credits in cents.";
  }

  async function downloadChargebackCsv() {
    const params = chargebackParams("csv");
    if (!params.month) return;
    const button = $("chargeback-csv");
    button.disabled = true;
    try {
      const response = await request("/api/reports/chargeback", params);
      const name = await saveDownload(response, "chargeback_" + params.month + ".csv");
      setStatus("Downloaded " + name + ".");
    } catch (error) {
      if (error.status === 401 || error.status === 403) showLogin(refusal(error));
      else $("chargeback-caption").textContent = "Could not download the chargeback CSV: " + error.message;
    } finally {
      button.disabled = false;
    }
  }

  // -- wiring ----------------------------------------------------------------------------------

  function start() {
    $("login-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => showLogin("Signed out."));
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    $("team-filter").addEventListener("change", load);
    $("download-csv").addEventListener("click", downloadCsv);
    $("chargeback-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadChargeback();
    });
    $("chargeback-csv").addEventListener("click", downloadChargebackCsv);
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(render, 150);
    });
    token = sessionStorage.getItem(TOKEN_KEY);
    if (token) openDashboard();
    else showLogin();
  }

  start();
})();
