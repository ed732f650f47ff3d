/* global document, location, sessionStorage, fetch, URLSearchParams -- a browser script */
// The coverage panel of the dashboard: one line per watched subscription from GET /api/coverage (last
// complete reconcile, last run, last event, the event wiring an ARM read found, backfill, error), loaded
// after the dashboard's first screen and refreshed with the page. Self-contained (its own section of
// index.html), with the function key the page was opened with.
'use strict';

(function () {
  const panel = document.getElementById('coverage-panel');
  if (!panel) return;
  const body = panel.querySelector('tbody');
  const summary = panel.querySelector('.coverage-summary');

  function key() {
    return new URLSearchParams(location.search).get('code') || sessionStorage.getItem('functionKey') || '';
  }

  function when(iso) {
    return iso ? iso.slice(0, 16).replace('T', ' ') : '–';
  }

  function cell(text, className, title) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    if (title) td.title = title;
    return td;
  }

  // "wired/missing": resource events / Resource Health events, as the last ARM read found them.
  function wiringCell(found) {
    if (!found || !found.checkedAt) return cell('–', '', 'not read yet');
    const text = `${found.resourceEvents || '–'}/${found.healthEvents || '–'}`;
    const ok = found.resourceEvents === 'wired' && found.healthEvents === 'wired';
    return cell(
      text,
      ok ? '' : 'warn',
      `read ${when(found.checkedAt)} UTC${found.error ? `: ${found.error}` : ''}`,
    );
  }

  function backfillCell(s) {
    const p = s.backfillProgress;
    const text =
      s.backfill === 'running' && p && p.reachedDay ? `running (${p.reachedDay})` : s.backfill || '–';
    return cell(text, s.backfill === 'failed' ? 'bad' : '', p ? `${p.slicesDone}/${p.slices} slices` : '');
  }

  function render(report) {
    const rows = report.subscriptions.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.subscription = s.subscriptionId;
      tr.dataset.outcome = s.lastOutcome || 'none';
      tr.append(
        cell(s.displayName || s.subscriptionId, '', s.subscriptionId),
        cell(s.presence, s.presence === 'gone' ? 'bad' : ''),
        cell(when(s.lastCompleteReconcileAt)),
        cell(s.lastOutcome || '–', s.lastOutcome && s.lastOutcome !== 'complete' ? 'bad' : ''),
        cell(when(s.lastEventAt)),
        cell(s.eventWiring, s.eventWiring === 'receiving' ? '' : 'warn'),
        wiringCell(s.wiringFound),
        backfillCell(s),
        cell(s.poisonReason || s.lastError || (s.wiringFound && s.wiringFound.error) || ''),
      );
      return tr;
    });
    body.replaceChildren(...rows);
    const t = report.totals;
    summary.textContent = `${t.present} watched, ${t.gone} gone · ${t.complete} complete, ${t.attention} need attention · ${t.backfillPending} backfill pending · ${t.withoutRecentEvents} without an event for a day · ${t.wiringMissing} with wiring missing`;
    panel.dataset.loaded = 'true';
  }

  let loading = false;
  async function load() {
    const k = key();
    if (!k || loading) return;
    loading = true;
    try {
      const response = await fetch('/api/coverage', { headers: { 'x-functions-key': k } });
      if (!response.ok) throw new Error(`coverage: HTTP ${response.status}`);
      render(await response.json());
    } catch (error) {
      summary.textContent = error.message;
    } finally {
      loading = false;
    }
  }

  // Refreshed with the rest of the page (dashboard.js announces each refresh: auto-refresh's schedule, never
  // while the tab is hidden, never overlapping a slow load; or the Refresh button), not on a timer of its own.
  document.addEventListener('dashboard:refresh', () => void load());
  // First once the dashboard's first screen is drawn (its timelines), not beside the request for it.
  if (document.body.dataset.firstScreen === 'true') void load();
  else document.addEventListener('dashboard:first-screen', () => void load(), { once: true });
})();
