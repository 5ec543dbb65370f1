// The main window: profile list, details, secret entry, live status, log.
//
// State comes from the Rust side as whole snapshots (on start, then on every change); the
// view re-renders from the snapshot, rebuilding the profile list only when what it shows
// changed, so keyboard focus and typed text survive the counter updates.
import {
  api,
  asUiError,
  type ConnectionStatus,
  type LogLine,
  type Profile,
  type SecretKind,
  type Snapshot,
  type UiError,
} from "./api";
import {
  bytes,
  duration,
  METHOD_LABEL,
  SECRET_LABEL,
  STATE_LABEL,
  VERSION_LABEL,
} from "./format";

type Attrs = Record<string, string | boolean | undefined>;

/** A tiny element builder: text goes in as text, never as HTML. */
export function h(
  tag: string,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

const LOG_LIMIT = 500;

export class StraitApp {
  snapshot: Snapshot = { service: { kind: "unknown" }, profiles: [], connections: [] };
  selected: string | null = null;
  logs: LogLine[] = [];
  error: UiError | null = null;
  notice: string | null = null;
  busy = new Set<string>();
  /** A key file waiting for its password (the message says why: needed, or wrong). */
  keyPrompt: { profile: string; path: string; message: string } | null = null;
  /** The clock, replaceable in tests. */
  now: () => number = () => Date.now();
  /** When the current snapshot arrived: rekey times count down from it. */
  private receivedAt = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  private root: HTMLElement;
  private listKey = "";
  private detailKey = "";
  private els: Record<string, HTMLElement> = {};

  constructor(root: HTMLElement) {
    this.root = root;
  }

  /** Builds the static frame, subscribes to events and loads the first snapshot. */
  async start(): Promise<void> {
    this.frame();
    await Promise.all([
      api.onSnapshot((s) => this.setSnapshot(s)),
      api.onLog((l) => this.addLog(l)),
      api.onError((e) => this.showError(e)),
      api.onImported((i) => this.imported(i.id, i.warnings)),
    ]);
    const [snapshot, logs] = await Promise.all([api.snapshot(), api.logs(), this.loadAutostart()]);
    this.logs = logs.slice(-LOG_LIMIT);
    this.setSnapshot(snapshot);
    this.timer ??= setInterval(() => this.tick(), 1000);
  }

  /** Stops the countdown timer (the window is going away). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Once a second: the rekey times count down between snapshots. */
  tick(): void {
    this.updateStatus(this.connection(this.selected));
  }

  /** Shows whether Strait starts at login; a failure to tell leaves the box off, not the app. */
  private async loadAutostart(): Promise<void> {
    const box = this.els.autostart as HTMLInputElement;
    try {
      box.checked = (await api.autostartEnabled()) === true;
    } catch {
      box.checked = false;
    }
  }

  async setAutostart(enabled: boolean): Promise<void> {
    const box = this.els.autostart as HTMLInputElement;
    box.disabled = true;
    try {
      box.checked = (await api.setAutostart(enabled)) === true;
    } catch (e) {
      box.checked = !enabled;
      this.showError(asUiError(e));
    } finally {
      box.disabled = false;
    }
  }

  setSnapshot(s: Snapshot): void {
    this.snapshot = s;
    this.receivedAt = this.now();
    if (!this.selected || !s.profiles.some((p) => p.id === this.selected)) {
      this.selected = s.connections[0]?.profile ?? s.profiles[0]?.id ?? null;
    }
    this.render();
  }

  addLog(line: LogLine): void {
    this.logs.push(line);
    if (this.logs.length > LOG_LIMIT) this.logs.shift();
    this.renderLog();
  }

  showError(e: UiError | null): void {
    this.error = e;
    if (e) this.notice = null;
    this.renderMessages();
  }

  private profile(id: string | null): Profile | undefined {
    return this.snapshot.profiles.find((p) => p.id === id);
  }

  private connection(id: string | null): ConnectionStatus | undefined {
    return this.snapshot.connections.find((c) => c.profile === id);
  }

  // ---- actions -------------------------------------------------------------------------

  private async run(key: string, f: () => Promise<void>): Promise<void> {
    this.busy.add(key);
    this.render();
    try {
      await f();
    } catch (e) {
      this.showError(asUiError(e));
    } finally {
      this.busy.delete(key);
      this.render();
    }
  }

  async importFile(): Promise<void> {
    const path = await api.chooseProfileFile().catch(() => null);
    if (!path) return;
    await this.run("import", async () => {
      const imported = await api.importProfile(path);
      this.imported(imported.id, imported.warnings);
    });
  }

  private imported(id: string, warnings: string[]): void {
    this.selected = id;
    this.error = null;
    this.notice =
      `Imported “${this.profile(id)?.name ?? id}”.` +
      (warnings.length ? ` Warnings: ${warnings.join(" ")}` : "");
    this.render();
  }

  async connect(id: string): Promise<void> {
    this.showError(null);
    await this.run(`connect:${id}`, () => api.connect(id));
  }

  async disconnect(id: string): Promise<void> {
    this.showError(null);
    await this.run(`disconnect:${id}`, () => api.disconnect(id));
  }

  async saveSecret(id: string, kind: SecretKind, input: HTMLInputElement): Promise<void> {
    const value = input.value;
    if (!value) return;
    await this.run(`secret:${id}`, async () => {
      await api.setSecret(id, kind, value);
      // Never shown again: the field is cleared as soon as the keychain has it.
      input.value = "";
      this.error = null;
      this.notice = `${SECRET_LABEL[kind]} saved in your keychain.`;
      this.detailKey = "";
    });
  }

  /** "Import private key…": the file dialog, then the keychain (asking for the password when
   * the file has one). */
  async importKey(id: string): Promise<void> {
    const path = await api.chooseKeyFile().catch(() => null);
    if (!path) return;
    await this.storeKey(id, path, null);
  }

  /** The password typed into the prompt for the waiting key file. */
  async unlockKey(input: HTMLInputElement): Promise<void> {
    const prompt = this.keyPrompt;
    const password = input.value;
    input.value = "";
    if (!prompt || !password) return;
    await this.storeKey(prompt.profile, prompt.path, password);
  }

  cancelKey(): void {
    this.keyPrompt = null;
    this.detailKey = "";
    this.render();
  }

  private async storeKey(id: string, path: string, password: string | null): Promise<void> {
    this.showError(null);
    await this.run(`key:${id}`, async () => {
      try {
        await api.importKey(id, path, password);
      } catch (e) {
        const err = asUiError(e);
        if (err.kind !== "key_password") throw e;
        this.keyPrompt = { profile: id, path, message: err.message };
        this.detailKey = "";
        return;
      }
      this.keyPrompt = null;
      this.error = null;
      this.notice = "Private key saved in your keychain.";
      this.detailKey = "";
    });
  }

  async forgetSecret(id: string, kind: SecretKind): Promise<void> {
    await this.run(`secret:${id}`, async () => {
      await api.forgetSecret(id, kind);
      this.detailKey = "";
    });
  }

  // ---- rendering -----------------------------------------------------------------------

  private frame(): void {
    const importButton = h("button", { id: "import", type: "button" }, "Import profile…");
    importButton.addEventListener("click", () => void this.importFile());
    this.els.service = h("div", { id: "service", role: "status", "aria-live": "polite" });
    this.els.messages = h("div", { id: "messages", "aria-live": "assertive" });
    this.els.list = h("ul", { id: "profiles", class: "profiles" });
    this.els.detail = h("section", { id: "detail", "aria-labelledby": "detail-title" });
    this.els.log = h("pre", { id: "log", tabindex: "0" });
    const autostart = h("input", { id: "autostart", type: "checkbox" }) as HTMLInputElement;
    autostart.addEventListener("change", () => void this.setAutostart(autostart.checked));
    this.els.autostart = autostart;
    this.root.replaceChildren(
      h(
        "header",
        { class: "top" },
        h("h1", {}, "Strait"),
        h("span", { id: "version", class: "muted" }),
        importButton,
      ),
      this.els.service,
      this.els.messages,
      h(
        "main",
        { class: "layout" },
        h(
          "nav",
          { "aria-label": "Profiles" },
          h("h2", { class: "sr-only" }, "Profiles"),
          this.els.list,
          h("p", { class: "hint muted" }, "Drop a profile file on this window to import it."),
          h("p", { class: "setting" }, h("label", {}, autostart, " Start Strait when I log in")),
        ),
        h(
          "div",
          { class: "pane" },
          this.els.detail,
          h(
            "details",
            { class: "log", id: "log-details" },
            h("summary", {}, "Connection log"),
            this.els.log,
          ),
        ),
      ),
    );
  }

  render(): void {
    if (!this.els.list) return;
    this.renderService();
    this.renderMessages();
    this.renderList();
    this.renderDetail();
    this.renderLog();
  }

  private renderService(): void {
    const s = this.snapshot.service;
    const version = this.root.querySelector("#version");
    if (version) version.textContent = s.kind === "running" ? `service ${s.version}` : "";
    if (s.kind === "unreachable") {
      this.els.service.className = "banner down";
      this.els.service.replaceChildren(
        h("h2", { id: "service-down" }, "The Strait service is not running"),
        h("p", {}, s.message),
        h("p", { class: "muted" }, `Looked for it at ${s.socket}. Strait keeps trying.`),
      );
    } else if (s.kind === "unknown") {
      this.els.service.className = "banner muted";
      this.els.service.replaceChildren("Looking for the Strait service…");
    } else {
      this.els.service.className = "";
      this.els.service.replaceChildren();
    }
  }

  private renderMessages(): void {
    const children: HTMLElement[] = [];
    if (this.error) {
      const e = this.error;
      children.push(
        h(
          "div",
          { class: "banner error", role: "alert", id: "error" },
          h("p", { class: "message" }, e.message),
          e.detail
            ? h("details", {}, h("summary", {}, "Technical detail"), h("pre", {}, e.detail))
            : null,
        ),
      );
    }
    if (this.notice) {
      children.push(h("div", { class: "banner notice", id: "notice" }, this.notice));
    }
    this.els.messages.replaceChildren(...children);
  }

  private renderList(): void {
    const { profiles } = this.snapshot;
    const down = this.snapshot.service.kind !== "running";
    const key = JSON.stringify([
      this.selected,
      down,
      profiles.map((p) => [p.id, p.name, this.connection(p.id)?.state ?? "disconnected"]),
    ]);
    if (key === this.listKey) return;
    this.listKey = key;
    const focused = document.activeElement?.getAttribute("data-id");
    if (profiles.length === 0) {
      this.els.list.replaceChildren(
        h(
          "li",
          { class: "empty muted" },
          down ? "No profiles to show." : "No profiles yet: import one to start.",
        ),
      );
      return;
    }
    this.els.list.replaceChildren(
      ...profiles.map((p) => {
        const state = this.connection(p.id)?.state ?? "disconnected";
        const button = h(
          "button",
          {
            type: "button",
            class: "profile",
            "data-id": p.id,
            "aria-current": p.id === this.selected ? "true" : undefined,
          },
          h("span", { class: "name" }, p.name),
          h("span", { class: `badge ${state}` }, STATE_LABEL[state]),
        );
        button.addEventListener("click", () => {
          this.selected = p.id;
          this.render();
        });
        return h("li", {}, button);
      }),
    );
    if (focused) {
      (this.els.list.querySelector(`[data-id="${CSS.escape(focused)}"]`) as HTMLElement | null)?.focus();
    }
  }

  private renderDetail(): void {
    const p = this.profile(this.selected);
    if (!p) {
      this.detailKey = "";
      this.els.detail.replaceChildren(
        h("h2", { id: "detail-title" }, "No profile selected"),
        h(
          "p",
          { class: "muted" },
          "Import the profile file your IT department gave you (.toml, .mobileconfig, .sswan, swanctl.conf, .nmconnection).",
        ),
      );
      return;
    }
    const c = this.connection(p.id);
    const state = c?.state ?? "disconnected";
    const down = this.snapshot.service.kind !== "running";
    const busy = [...this.busy].some((k) => k.endsWith(`:${p.id}`));
    const prompt = this.keyPrompt?.profile === p.id ? this.keyPrompt : null;
    const key = JSON.stringify([p, state, down, busy, c?.reason, prompt]);
    if (key !== this.detailKey) {
      this.detailKey = key;
      this.buildDetail(p, state, down, busy, c);
    }
    this.updateStatus(c);
  }

  private buildDetail(
    p: Profile,
    state: ConnectionStatus["state"],
    down: boolean,
    busy: boolean,
    c: ConnectionStatus | undefined,
  ): void {
    const active = state !== "disconnected" && state !== "error";
    const missing = p.needs.filter((k) => !p.stored.includes(k));
    const connect = h(
      "button",
      { id: "connect", type: "button", class: "primary", disabled: down || active || busy },
      busy && !active ? "Connecting…" : "Connect",
    );
    connect.addEventListener("click", () => void this.connect(p.id));
    const disconnect = h(
      "button",
      // Also after a failure: disconnecting dismisses it, and lifts a kill switch's block.
      { id: "disconnect", type: "button", disabled: down || state === "disconnected" },
      "Disconnect",
    );
    disconnect.addEventListener("click", () => void this.disconnect(p.id));

    const secrets = p.needs
      .filter((k) => k !== "key")
      .map((kind) => this.secretForm(p, kind));
    const keyNote = p.needs.includes("key") ? this.keySection(p, busy) : null;

    this.els.detail.replaceChildren(
      ...compact([
      h("h2", { id: "detail-title" }, p.name),
      h(
        "p",
        { id: "state", class: `state ${state}`, role: "status" },
        STATE_LABEL[state],
      ),
      state === "error" || state === "reconnecting"
        ? h("p", { id: "reason", class: "reason" }, c?.reason ?? "")
        : null,
      h(
        "div",
        { class: "actions" },
        connect,
        disconnect,
        missing.length && !active
          ? h("span", { class: "muted", id: "missing" }, missingHint(missing))
          : null,
      ),
      h("section", { id: "status", "aria-label": "Connection status" }),
      h("h3", {}, "Profile"),
      h(
        "dl",
        { class: "facts" },
        ...fact("Gateway", p.gateway, "fact-gateway"),
        ...fact("Identity", identity(p), "fact-identity"),
        ...fact("Protocol", VERSION_LABEL[p.version] ?? p.version),
        ...fact("Sign-in", METHOD_LABEL[p.method] ?? p.method, "fact-method"),
        ...(p.username ? fact("Username", p.username, "fact-username") : []),
        ...fact(
          "Routes",
          p.routes.length ? p.routes.join(", ") : "The routes the gateway pushes",
          "fact-routes",
        ),
        ...(p.ike.length ? fact("IKE proposals", p.ike.join(", ")) : []),
        ...(p.esp.length ? fact("ESP proposals", p.esp.join(", ")) : []),
        ...fact("Managed by IT", p.managed ? "yes" : "no"),
        ...fact("Profile id", p.id),
      ),
      ...secrets,
      keyNote,
      ]),
    );
  }

  /** The private key: whether the keychain has it, the import button, and the password prompt
   * while a chosen file waits for its password. */
  private keySection(p: Profile, busy: boolean): HTMLElement {
    const stored = p.stored.includes("key");
    const importButton = h(
      "button",
      { id: "import-key", type: "button", disabled: busy },
      "Import private key…",
    );
    importButton.addEventListener("click", () => void this.importKey(p.id));
    const forget = h("button", { type: "button", class: "forget", id: "forget-key" }, "Forget");
    forget.addEventListener("click", () => void this.forgetSecret(p.id, "key"));
    let prompt: HTMLElement | null = null;
    if (this.keyPrompt?.profile === p.id) {
      const input = h("input", {
        id: "key-password",
        type: "password",
        autocomplete: "off",
        spellcheck: "false",
      }) as HTMLInputElement;
      const cancel = h("button", { type: "button", id: "key-cancel" }, "Cancel");
      cancel.addEventListener("click", () => this.cancelKey());
      prompt = h(
        "form",
        { class: "secret", id: "key-prompt" },
        h("p", { id: "key-password-message", role: "alert" }, this.keyPrompt.message),
        h("label", { for: "key-password" }, "Password of the key file"),
        h(
          "div",
          { class: "row" },
          input,
          h("button", { type: "submit", id: "key-unlock", disabled: busy }, "Unlock and store"),
          cancel,
        ),
        h(
          "p",
          { class: "muted" },
          "The key is stored in your keychain without the password; the password is not kept.",
        ),
      );
      prompt.addEventListener("submit", (e) => {
        e.preventDefault();
        void this.unlockKey(input);
      });
    }
    return h(
      "section",
      { class: "secret", id: "key" },
      h("h3", {}, SECRET_LABEL.key),
      h(
        "p",
        { class: "muted", id: "secret-key-state" },
        stored
          ? "The private key is in your keychain."
          : "Not stored yet: import the .p12, .pfx or .pem file that holds your certificate's key.",
      ),
      h(
        "div",
        { class: "row" },
        importButton,
        stored ? forget : null,
      ),
      prompt,
    );
  }

  private secretForm(p: Profile, kind: SecretKind): HTMLElement {
    const stored = p.stored.includes(kind);
    const inputId = `secret-${kind}`;
    const input = h("input", {
      id: inputId,
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: stored ? "Stored — type to replace" : "",
    }) as HTMLInputElement;
    const form = h(
      "form",
      { class: "secret", "data-kind": kind },
      h("label", { for: inputId }, SECRET_LABEL[kind]),
      h(
        "div",
        { class: "row" },
        input,
        h("button", { type: "submit", id: `save-${kind}` }, "Save in keychain"),
        stored ? h("button", { type: "button", class: "forget" }, "Forget") : null,
      ),
      h(
        "p",
        { class: "muted", id: `secret-${kind}-state` },
        stored
          ? `Stored in your keychain. It is never shown again.`
          : `Not stored yet. It is kept in your keychain, never in the profile.`,
      ),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.saveSecret(p.id, kind, input);
    });
    form.querySelector(".forget")?.addEventListener("click", () => void this.forgetSecret(p.id, kind));
    return form;
  }

  private updateStatus(c: ConnectionStatus | undefined): void {
    const el = this.els.detail.querySelector("#status");
    if (!el) return;
    if (!c || c.state === "disconnected") {
      el.replaceChildren();
      return;
    }
    el.replaceChildren(
      h("h3", {}, "Connection"),
      h(
        "dl",
        { class: "facts" },
        ...fact("Virtual IP", c.virtual_ips.join(", ") || "—", "virtual-ip"),
        ...fact("Gateway address", c.gateway_address ?? "—"),
        ...fact("Routes", c.routes.join(", ") || "—"),
        ...fact("DNS", [...c.dns, ...c.dns_domains].join(", ") || "—"),
        ...fact("IKE", c.ike_algorithms ?? "—"),
        ...fact("ESP", c.esp_algorithms ?? "—"),
        ...fact("NAT", c.nat ? "detected (UDP 4500)" : "no"),
        ...fact(
          "Sent",
          `${bytes(c.counters.bytes_out)} in ${c.counters.packets_out} packets`,
          "sent",
        ),
        ...fact(
          "Received",
          `${bytes(c.counters.bytes_in)} in ${c.counters.packets_in} packets`,
          "received",
        ),
        ...fact("Up for", c.uptime_secs === null ? "—" : duration(c.uptime_secs), "uptime"),
        ...fact("IKE rekey in", this.countdown(c.ike_rekey_in_secs), "ike-rekey"),
        ...fact("ESP rekey in", this.countdown(c.child_rekey_in_secs), "child-rekey"),
        ...(c.kill_switch
          ? fact("Kill switch", "On: traffic outside the tunnel is blocked", "kill-switch")
          : []),
      ),
    );
  }

  /** A rekey time from the snapshot, counted down since it arrived. */
  private countdown(secs: number | null | undefined): string {
    if (secs === null || secs === undefined) return "—";
    const gone = Math.floor((this.now() - this.receivedAt) / 1000);
    const left = Math.max(0, secs - Math.max(0, gone));
    return left === 0 ? "now" : duration(left);
  }

  private renderLog(): void {
    const lines = this.logs.map((l) => {
      const t = new Date(l.time_ms).toLocaleTimeString();
      return `${t} ${l.level.padEnd(5)} ${l.profile ? `[${l.profile}] ` : ""}${l.message}`;
    });
    this.els.log.textContent = lines.join("\n") || "Nothing logged yet.";
  }
}

/** What to do before connecting: enter the PSK/password, import the key. */
export function missingHint(missing: SecretKind[]): string {
  const typed = missing.filter((k) => k !== "key").map((k) => SECRET_LABEL[k].toLowerCase());
  const steps = [
    ...(typed.length ? [`enter the ${typed.join(" and ")}`] : []),
    ...(missing.includes("key") ? ["import the private key"] : []),
  ];
  const text = `${steps.join(" and ")} below first.`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const CERT_METHODS = new Set(["cert", "xauth-cert"]);

/** "alice@corp.example → vpn.corp.example", with what the defaults mean spelled out. */
export function identity(p: Profile): string {
  const local =
    p.local_id ??
    (CERT_METHODS.has(p.method) ? "the certificate's subject" : "this device's address");
  return `${local} → ${p.remote_id ?? p.gateway}`;
}

function compact(items: (Node | string | null)[]): (Node | string)[] {
  return items.filter((x): x is Node | string => x !== null);
}

function fact(label: string, value: string, id?: string): HTMLElement[] {
  return [h("dt", {}, label), h("dd", { id }, value)];
}
