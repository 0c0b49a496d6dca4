// The analytics console: log in through identity, then draw the tenant's reports with Chart.js.
// Plain script, no build step. Paths are relative to the page (/api/analytics/console/), so the
// reports are "../reports/…" and identity is "../../identity/…" behind the same gateway.
"use strict";

(() => {
  const REPORTS = "../reports/";
  const LOGIN = "../../identity/auth/login";
  const COLORS = ["#2680c2", "#e12d39", "#3ebd93", "#f7c948", "#9446ed"];

  const body = document.body;
  const status = document.getElementById("status");
  const loginForm = document.getElementById("login");
  const reports = document.getElementById("reports");
  const windowForm = document.getElementById("window");
  const who = document.getElementById("who");
  const logoutButton = document.getElementById("logout");
  const charts = {};
  let token = null;

  class ApiError extends Error {
    constructor(response, payload) {
      const error = (payload && payload.error) || {};
      super(error.message || `HTTP ${response.status}`);
      this.status = response.status;
      this.code = error.code;
    }
  }

  function show(state, message) {
    body.dataset.state = state;
    status.textContent = message || "";
    status.hidden = !message;
    loginForm.hidden = state !== "login";
    reports.hidden = state === "login";
    logoutButton.hidden = state === "login";
  }

  async function call(url, options) {
    const response = await fetch(url, options);
    const payload = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response, payload);
    return payload;
  }

  async function login(event) {
    event.preventDefault();
    const fields = new FormData(loginForm);
    try {
      const tokens = await call(LOGIN, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ login: fields.get("login"), password: fields.get("password") }),
      });
      token = tokens.access_token;
      who.textContent = String(fields.get("login"));
      loginForm.reset();
      await load();
    } catch (error) {
      token = null;
      const message = error.status === 401 ? "Wrong login or password." : error.message;
      show("login", message);
    }
  }

  function logout(message) {
    token = null;
    who.textContent = "";
    show("login", message);
  }

  /** The report window: the last N days up to now, hourly for a day, daily beyond. */
  function reportWindow() {
    const days = Number(new FormData(windowForm).get("days"));
    const to = new Date();
    const from = new Date(to.getTime() - days * 86400000);
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      granularity: days === 1 ? "hour" : "day",
      tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
    };
  }

  function report(path, range, extra) {
    const query = new URLSearchParams({ ...range, ...extra });
    return call(`${REPORTS}${path}?${query}`, { headers: { Authorization: `Bearer ${token}` } });
  }

  /** A bucket's start as the axis shows it: the local date, and the hour for hourly buckets. */
  function bucketTick(granularity) {
    return function (value) {
      const bucket = String(this.getLabelForValue(value));
      return granularity === "hour" ? bucket.slice(5, 16).replace("T", " ") : bucket.slice(0, 10);
    };
  }

  function draw(id, type, labels, datasets, options) {
    const data = {
      labels,
      datasets: datasets.map((dataset, index) => ({
        borderColor: COLORS[index],
        backgroundColor: COLORS[index],
        ...dataset,
      })),
    };
    const chart = charts[id];
    if (chart) {
      chart.data = data;
      chart.options = options;
      chart.update();
      return;
    }
    charts[id] = new Chart(document.getElementById(id), { type, data, options });
  }

  function options(extra) {
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      ...extra,
    };
  }

  function timeAxis(granularity) {
    return { x: { ticks: { callback: bucketTick(granularity) } }, y: { beginAtZero: true, ticks: { precision: 0 } } };
  }

  async function load() {
    show("loading");
    const range = reportWindow();
    Object.assign(reports.dataset, range);
    document.getElementById("zone").textContent = `Time zone: ${range.tz}`;
    try {
      const [views, top, latency, active] = await Promise.all([
        report("dashboards/views", range),
        report("dashboards/top", range, { by: "views", limit: "10" }),
        report("queries/latency", range),
        report("users/active", range),
      ]);
      const scales = timeAxis(range.granularity);
      const buckets = (points) => points.map((point) => point.bucket);
      draw(
        "views-chart",
        "line",
        buckets(views.points),
        [
          { label: "views", data: views.points.map((point) => point.views) },
          { label: "viewers", data: views.points.map((point) => point.viewers) },
        ],
        options({ scales }),
      );
      draw(
        "top-chart",
        "bar",
        top.rows.map((row) => row.dashboard_id),
        [
          { label: "views", data: top.rows.map((row) => row.views) },
          { label: "viewers", data: top.rows.map((row) => row.viewers) },
        ],
        options({
          indexAxis: "y",
          scales: {
            x: { beginAtZero: true, ticks: { precision: 0 } },
            y: {
              ticks: {
                callback(value) {
                  return String(this.getLabelForValue(value)).slice(0, 8);
                },
              },
            },
          },
        }),
      );
      draw(
        "latency-chart",
        "line",
        buckets(latency.points),
        ["p50_ms", "p95_ms", "p99_ms"].map((figure) => ({
          label: figure,
          data: latency.points.map((point) => point[figure]),
        })),
        options({ scales }),
      );
      draw(
        "active-chart",
        "bar",
        buckets(active.daily),
        [{ label: "daily active users", data: active.daily.map((point) => point.users) }],
        options({ scales: timeAxis("day") }),
      );
      document.getElementById("active-total").textContent = `(${active.users} in the range)`;
      show("ready");
    } catch (error) {
      if (error.status === 401) {
        logout("Your session has ended: log in again.");
      } else if (error.status === 403) {
        show("error", "Your role cannot read analytics (analytics:read).");
      } else {
        show("error", `The reports could not be loaded: ${error.message}`);
      }
    }
  }

  loginForm.addEventListener("submit", login);
  windowForm.addEventListener("change", () => load());
  logoutButton.addEventListener("click", () => logout());
  if (typeof Chart === "undefined") {
    show("error", "The chart library did not load.");
  } else {
    show("login");
  }
})();
