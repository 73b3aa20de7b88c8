// A job's page: ask for its progress every second and move the bar, without reloading; once the job
// is finished, show its page again, which then holds the outcome (or, for a batch, its results).
const job = document.getElementById("job");
if (job && job.dataset.finished === "false") {
  const statusTexts = JSON.parse(document.getElementById("job-status-texts").textContent);
  const bar = document.getElementById("job-progress");
  const count = document.getElementById("job-count");
  const state = document.getElementById("job-state");
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined);

  const show = (status) => {
    const text = statusTexts[status.status] || status.status;
    state.textContent = text.charAt(0).toUpperCase() + text.slice(1);
    const { done, total } = status.progress;
    if (total > 0) {
      bar.max = total;
      bar.value = done;
      count.textContent = job.dataset.countText
        .replace("%(done)s", number.format(done))
        .replace("%(total)s", number.format(total));
    }
  };

  const poll = async () => {
    try {
      const response = await fetch(job.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const status = await response.json();
        if (status.finished) {
          window.location.assign(status.page);
          return;
        }
        show(status);
      }
    } catch (error) {
      // A dropped connection or a restarting server: ask again at the next tick.
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 500);
}
