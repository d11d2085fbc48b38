// Placeholder boot: reads config.json (the gateway writes it from the settings) and says it is ready.
const status = document.getElementById("status");
const config = await (await fetch("config.json")).json();
status.textContent = `API at ${config.api_base}`;
document.documentElement.dataset.ready = "true";
