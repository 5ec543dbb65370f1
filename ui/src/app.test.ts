// The window against a mocked Tauri IPC: what it shows for each state the Rust side reports,
// and which commands its buttons call.
import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { ConnectionStatus, Snapshot } from "./api";
import { StraitApp } from "./app";
import { bytes, duration } from "./format";

const profile = {
  id: "acme-hq",
  name: "Acme HQ",
  gateway: "vpn.acme.example",
  version: "ikev2",
  method: "psk",
  managed: false,
  local_id: null,
  remote_id: "vpn.acme.example",
  username: null,
  routes: [],
  ike: [],
  esp: [],
  needs: ["psk"],
  stored: [],
} satisfies Snapshot["profiles"][number];

/** A certificate profile with every detail written out. */
const certProfile: Snapshot["profiles"][number] = {
  id: "corp",
  name: "Corp",
  gateway: "vpn.corp.example",
  version: "ikev2",
  method: "xauth-cert",
  managed: true,
  local_id: "alice@corp.example",
  remote_id: "gw.corp.example",
  username: "alice",
  routes: ["10.0.0.0/8", "192.168.10.0/24"],
  ike: ["aes256gcm16-prfsha384-ecp384"],
  esp: [],
  needs: ["key", "password"],
  stored: [],
};

function running(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    service: { kind: "running", version: "0.1.0" },
    profiles: [profile],
    connections: [],
    ...overrides,
  };
}

function connected(): ConnectionStatus {
  return {
    profile: "acme-hq",
    state: "connected",
    gateway: "vpn.acme.example",
    gateway_address: "192.0.2.1",
    virtual_ips: ["10.99.0.1"],
    dns: [],
    dns_domains: [],
    routes: ["10.1.0.0/16"],
    ike_algorithms: "AES-256-GCM/PRF-HMAC-SHA-256/ECP-256",
    esp_algorithms: "AES-256-GCM",
    ike_spis: null,
    esp_spis: null,
    nat: false,
    counters: {
      bytes_out: 2048,
      bytes_in: 4096,
      packets_out: 2,
      packets_in: 4,
      replay_drops: 0,
      auth_failures: 0,
    },
    uptime_secs: 75,
    ike_rekey_in_secs: 14358,
    child_rekey_in_secs: 65,
    reason: null,
  };
}

type Call = { cmd: string; args: Record<string, unknown> };

let calls: Call[];
let snapshot: Snapshot;
let reject: Record<string, unknown>;
let autostart: boolean;
let apps: StraitApp[] = [];
/** What `import_key` answers, by the password it was given. */
let keyAnswers: Record<string, unknown>;

async function mountApp(now?: () => number): Promise<[HTMLElement, StraitApp]> {
  const root = document.createElement("div");
  document.body.replaceChildren(root);
  const app = new StraitApp(root);
  if (now) app.now = now;
  apps.push(app);
  await app.start();
  return [root, app];
}

async function mount(): Promise<HTMLElement> {
  return (await mountApp())[0];
}

const tick = () => new Promise((r) => setTimeout(r, 0));

beforeEach(() => {
  calls = [];
  snapshot = running();
  reject = {};
  autostart = false;
  keyAnswers = {};
  mockIPC(
    (cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      if (cmd in reject) throw reject[cmd];
      switch (cmd) {
        case "snapshot":
          return snapshot;
        case "logs":
          return [{ time_ms: 0, level: "info", profile: "acme-hq", message: "hello from the log" }];
        case "plugin:dialog|open":
          return (args as { options?: { title?: string } }).options?.title?.includes("private key")
            ? "/home/alice/alice.p12"
            : "/home/alice/acme-hq.toml";
        case "import_key": {
          const answer = keyAnswers[String((args as { password: unknown }).password)];
          if (answer) throw answer;
          return null;
        }
        case "import_profile":
          return { id: "acme-hq", replaced: false, warnings: [] };
        case "autostart_enabled":
          return autostart;
        case "set_autostart":
          autostart = (args as { enabled: boolean }).enabled;
          return autostart;
        default:
          return null;
      }
    },
    { shouldMockEvents: true },
  );
});

afterEach(() => {
  for (const app of apps) app.stop();
  apps = [];
  clearMocks();
});

describe("the service", () => {
  it("says plainly when the service is not running, and disables connecting", async () => {
    snapshot = running({
      service: {
        kind: "unreachable",
        message: "The Strait service is not running. Start it with `sudo systemctl start straitd`.",
        socket: "/run/strait/straitd.sock",
      },
    });
    const root = await mount();
    expect(root.querySelector("#service-down")?.textContent).toBe(
      "The Strait service is not running",
    );
    expect(root.querySelector("#service")?.textContent).toContain("systemctl start straitd");
    expect(root.querySelector<HTMLButtonElement>("#connect")?.disabled).toBe(true);
  });

  it("follows snapshot events: down, then running again", async () => {
    const root = await mount();
    expect(root.querySelector("#service-down")).toBeNull();
    await emit("strait://snapshot", running({
      service: { kind: "unreachable", message: "gone", socket: "/s" },
    }));
    expect(root.querySelector("#service-down")).not.toBeNull();
    await emit("strait://snapshot", running());
    expect(root.querySelector("#service-down")).toBeNull();
  });
});

describe("profiles", () => {
  it("lists profiles with their state and details", async () => {
    const root = await mount();
    const item = root.querySelector(".profile[data-id='acme-hq']");
    expect(item?.textContent).toContain("Acme HQ");
    expect(item?.textContent).toContain("Disconnected");
    expect(root.querySelector("#detail")?.textContent).toContain("vpn.acme.example");
    expect(root.querySelector("#detail")?.textContent).toContain("IKEv2");
  });

  it("shows the identity, method, username and routes before connecting", async () => {
    snapshot = running({ profiles: [profile, certProfile] });
    const root = await mount();
    // The PSK profile: defaults spelled out.
    expect(root.querySelector("#fact-identity")?.textContent).toBe(
      "this device's address → vpn.acme.example",
    );
    expect(root.querySelector("#fact-routes")?.textContent).toBe("The routes the gateway pushes");
    expect(root.querySelector("#fact-username")).toBeNull();

    root.querySelector<HTMLButtonElement>(".profile[data-id='corp']")?.click();
    expect(root.querySelector("#fact-gateway")?.textContent).toBe("vpn.corp.example");
    expect(root.querySelector("#fact-identity")?.textContent).toBe(
      "alice@corp.example → gw.corp.example",
    );
    expect(root.querySelector("#fact-method")?.textContent).toContain("Certificate + password");
    expect(root.querySelector("#fact-username")?.textContent).toBe("alice");
    expect(root.querySelector("#fact-routes")?.textContent).toBe("10.0.0.0/8, 192.168.10.0/24");
    expect(root.querySelector("#detail")?.textContent).toContain("aes256gcm16-prfsha384-ecp384");
  });

  it("a certificate profile without local_id names the certificate's subject", async () => {
    snapshot = running({ profiles: [{ ...certProfile, local_id: null }] });
    const root = await mount();
    expect(root.querySelector("#fact-identity")?.textContent).toBe(
      "the certificate's subject → gw.corp.example",
    );
  });

  it("invites an import when there is none", async () => {
    snapshot = running({ profiles: [] });
    const root = await mount();
    expect(root.querySelector("#profiles")?.textContent).toContain("import one");
  });

  it("imports the file chosen in the dialog", async () => {
    const root = await mount();
    root.querySelector<HTMLButtonElement>("#import")?.click();
    await tick();
    await tick();
    expect(calls.map((c) => c.cmd)).toContain("plugin:dialog|open");
    const imp = calls.find((c) => c.cmd === "import_profile");
    expect(imp?.args).toEqual({ path: "/home/alice/acme-hq.toml" });
    expect(root.querySelector("#notice")?.textContent).toContain("Imported “Acme HQ”");
  });

  it("shows an import failure in plain words with the detail folded away", async () => {
    reject.import_profile = {
      kind: "service",
      message: "line 3: unknown key `gatway`: did you mean `gateway`?",
      detail: "InvalidProfile",
      secret: null,
    };
    const root = await mount();
    root.querySelector<HTMLButtonElement>("#import")?.click();
    await tick();
    await tick();
    const error = root.querySelector("#error");
    expect(error?.querySelector(".message")?.textContent).toContain("unknown key `gatway`");
    expect(error?.querySelector("details summary")?.textContent).toBe("Technical detail");
    expect(error?.querySelector("details")?.hasAttribute("open")).toBe(false);
  });
});

describe("secrets", () => {
  it("stores the PSK in the keychain and never shows it again", async () => {
    const root = await mount();
    const input = root.querySelector<HTMLInputElement>("#secret-psk");
    expect(input?.type).toBe("password");
    input!.value = "correct horse";
    root.querySelector<HTMLFormElement>("form.secret")?.requestSubmit();
    await tick();
    expect(calls.find((c) => c.cmd === "set_secret")?.args).toEqual({
      profile: "acme-hq",
      kind: "psk",
      value: "correct horse",
    });
    expect(root.querySelector<HTMLInputElement>("#secret-psk")?.value).toBe("");
    expect(root.textContent).not.toContain("correct horse");
    expect(root.querySelector("#notice")?.textContent).toContain("saved in your keychain");
  });

  it("says when a secret is stored", async () => {
    snapshot = running({ profiles: [{ ...profile, stored: ["psk"] }] });
    const root = await mount();
    expect(root.querySelector("#secret-psk-state")?.textContent).toContain("Stored in your keychain");
  });
});

describe("private key import", () => {
  async function chooseKey(root: HTMLElement): Promise<void> {
    root.querySelector<HTMLButtonElement>("#import-key")?.click();
    for (let i = 0; i < 4; i++) await tick();
  }

  async function typePassword(root: HTMLElement, password: string): Promise<void> {
    const input = root.querySelector<HTMLInputElement>("#key-password")!;
    input.value = password;
    root.querySelector<HTMLFormElement>("#key-prompt")?.requestSubmit();
    for (let i = 0; i < 4; i++) await tick();
  }

  it("says what is missing before connecting", async () => {
    snapshot = running({ profiles: [certProfile] });
    const root = await mount();
    expect(root.querySelector("#missing")?.textContent).toBe(
      "Enter the password and import the private key below first.",
    );
    snapshot = running({ profiles: [{ ...certProfile, stored: ["password"] }] });
    const root2 = await mount();
    expect(root2.querySelector("#missing")?.textContent).toBe("Import the private key below first.");
  });

  it("is offered for certificate profiles only", async () => {
    const root = await mount();
    expect(root.querySelector("#import-key")).toBeNull();
    snapshot = running({ profiles: [certProfile] });
    const root2 = await mount();
    expect(root2.querySelector("#import-key")?.textContent).toBe("Import private key…");
    expect(root2.querySelector("#secret-key-state")?.textContent).toContain("Not stored yet");
  });

  it("stores a key file that needs no password straight away", async () => {
    snapshot = running({ profiles: [certProfile] });
    const root = await mount();
    await chooseKey(root);
    const open = calls.find((c) => c.cmd === "plugin:dialog|open");
    const filters = (open?.args as { options: { filters: { extensions: string[] }[] } }).options
      .filters;
    expect(filters[0].extensions).toEqual(["p12", "pfx", "pem", "key", "der"]);
    expect(calls.find((c) => c.cmd === "import_key")?.args).toEqual({
      profile: "corp",
      path: "/home/alice/alice.p12",
      password: null,
    });
    expect(root.querySelector("#key-prompt")).toBeNull();
    expect(root.querySelector("#notice")?.textContent).toContain("Private key saved");
  });

  it("asks for the password, says when it is wrong, and never shows it", async () => {
    keyAnswers = {
      null: {
        kind: "key_password",
        message: "alice.p12 is protected by a password. Type it to unlock the key.",
        detail: null,
        secret: ["corp", "key"],
      },
      wrong: {
        kind: "key_password",
        message: "The password for alice.p12 is wrong. Check it and try again.",
        detail: null,
        secret: ["corp", "key"],
      },
    };
    snapshot = running({ profiles: [certProfile] });
    const root = await mount();
    await chooseKey(root);
    expect(root.querySelector("#key-password-message")?.textContent).toContain(
      "protected by a password",
    );
    expect(root.querySelector<HTMLInputElement>("#key-password")?.type).toBe("password");
    expect(root.querySelector("#error")).toBeNull();

    await typePassword(root, "wrong");
    expect(root.querySelector("#key-password-message")?.textContent).toBe(
      "The password for alice.p12 is wrong. Check it and try again.",
    );
    expect(root.querySelector<HTMLInputElement>("#key-password")?.value).toBe("");

    await typePassword(root, "hunter2");
    const tries = calls.filter((c) => c.cmd === "import_key").map((c) => c.args.password);
    expect(tries).toEqual([null, "wrong", "hunter2"]);
    expect(calls.filter((c) => c.cmd === "import_key").every((c) => c.args.path === "/home/alice/alice.p12")).toBe(true);
    expect(root.querySelector("#key-prompt")).toBeNull();
    expect(root.querySelector("#notice")?.textContent).toContain("Private key saved");
    expect(root.textContent).not.toContain("hunter2");
  });

  it("cancelling the prompt forgets the chosen file", async () => {
    keyAnswers = {
      null: { kind: "key_password", message: "needs a password", detail: null, secret: null },
    };
    snapshot = running({ profiles: [certProfile] });
    const root = await mount();
    await chooseKey(root);
    root.querySelector<HTMLButtonElement>("#key-cancel")?.click();
    expect(root.querySelector("#key-prompt")).toBeNull();
  });

  it("shows a file that holds no key as an error", async () => {
    keyAnswers = {
      null: {
        kind: "key_file",
        message: "alice.p12 holds no private key Strait can use.",
        detail: "our private key cannot be used: …",
        secret: null,
      },
    };
    snapshot = running({ profiles: [certProfile] });
    const root = await mount();
    await chooseKey(root);
    expect(root.querySelector("#key-prompt")).toBeNull();
    expect(root.querySelector("#error .message")?.textContent).toContain("holds no private key");
  });

  it("forgets a stored key", async () => {
    snapshot = running({ profiles: [{ ...certProfile, stored: ["key"] }] });
    const root = await mount();
    expect(root.querySelector("#secret-key-state")?.textContent).toContain("in your keychain");
    root.querySelector<HTMLButtonElement>("#forget-key")?.click();
    await tick();
    expect(calls.find((c) => c.cmd === "forget_secret")?.args).toEqual({
      profile: "corp",
      kind: "key",
    });
  });
});

describe("connecting", () => {
  it("connect and disconnect call the service with the profile id", async () => {
    const root = await mount();
    root.querySelector<HTMLButtonElement>("#connect")?.click();
    await tick();
    expect(calls.find((c) => c.cmd === "connect")?.args).toEqual({ profile: "acme-hq" });

    await emit("strait://snapshot", running({ connections: [connected()] }));
    expect(root.querySelector("#state")?.textContent).toBe("Connected");
    expect(root.querySelector("#virtual-ip")?.textContent).toBe("10.99.0.1");
    expect(root.querySelector("#sent")?.textContent).toBe("2.0 KiB in 2 packets");
    expect(root.querySelector("#uptime")?.textContent).toBe("1 min 15 s");
    expect(root.querySelector("#ike-rekey")?.textContent).toBe("3 h 59 min");
    expect(root.querySelector("#child-rekey")?.textContent).toBe("1 min 5 s");
    expect(root.querySelector<HTMLButtonElement>("#connect")?.disabled).toBe(true);

    root.querySelector<HTMLButtonElement>("#disconnect")?.click();
    await tick();
    expect(calls.find((c) => c.cmd === "disconnect")?.args).toEqual({ profile: "acme-hq" });
  });

  it("shows why a connection failed", async () => {
    reject.connect = {
      kind: "service",
      message: "The gateway rejected our pre-shared key: check it with your IT department.",
      detail: "AUTHENTICATION_FAILED",
      secret: null,
    };
    const root = await mount();
    root.querySelector<HTMLButtonElement>("#connect")?.click();
    await tick();
    await tick();
    expect(root.querySelector("#error .message")?.textContent).toContain("rejected our pre-shared key");
    await emit("strait://snapshot", running({
      connections: [{ ...connected(), state: "error", reason: "The gateway rejected our pre-shared key." }],
    }));
    expect(root.querySelector("#state")?.textContent).toBe("Failed");
    expect(root.querySelector("#reason")?.textContent).toContain("rejected");
    expect(root.querySelector("#kill-switch")).toBeNull();
    await emit("strait://snapshot", running({
      connections: [{ ...connected(), state: "error", reason: "The gateway rejected our pre-shared key.", kill_switch: true }],
    }));
    expect(root.querySelector("#kill-switch")?.textContent).toContain("traffic outside the tunnel is blocked");
    // A failed connection can be retried or dismissed (which also lifts a kill switch).
    expect(root.querySelector<HTMLButtonElement>("#connect")?.disabled).toBe(false);
    const disconnect = root.querySelector<HTMLButtonElement>("#disconnect")!;
    expect(disconnect.disabled).toBe(false);
    disconnect.click();
    await tick();
    expect(calls.find((c) => c.cmd === "disconnect")?.args).toEqual({ profile: "acme-hq" });
  });

  it("offers no disconnect when there is nothing to disconnect", async () => {
    const root = await mount();
    expect(root.querySelector<HTMLButtonElement>("#disconnect")?.disabled).toBe(true);
  });

  it("keeps typed text while counters update", async () => {
    snapshot = running({ connections: [connected()] });
    const root = await mount();
    const input = root.querySelector<HTMLInputElement>("#secret-psk")!;
    input.value = "half typ";
    const next = connected();
    next.counters.bytes_in = 999999;
    await emit("strait://snapshot", running({ connections: [next] }));
    expect(root.querySelector<HTMLInputElement>("#secret-psk")?.value).toBe("half typ");
    expect(root.querySelector("#received")?.textContent).toContain("977 KiB");
  });

  it("counts the rekey times down between snapshots", async () => {
    let now = 1_000_000;
    snapshot = running({ connections: [connected()] });
    const [root, app] = await mountApp(() => now);
    expect(root.querySelector("#child-rekey")?.textContent).toBe("1 min 5 s");
    now += 10_000;
    app.tick();
    expect(root.querySelector("#child-rekey")?.textContent).toBe("55 s");
    now += 60_000;
    app.tick();
    expect(root.querySelector("#child-rekey")?.textContent).toBe("now");
    // A new snapshot (after the rekey) starts from its own values.
    const next = connected();
    next.child_rekey_in_secs = 3500;
    await emit("strait://snapshot", running({ connections: [next] }));
    expect(root.querySelector("#child-rekey")?.textContent).toBe("58 min 20 s");
    next.ike_rekey_in_secs = null;
    await emit("strait://snapshot", running({ connections: [next] }));
    expect(root.querySelector("#ike-rekey")?.textContent).toBe("—");
  });

  it("appends log lines from events", async () => {
    const root = await mount();
    expect(root.querySelector("#log")?.textContent).toContain("hello from the log");
    await emit("strait://log", { time_ms: 1, level: "warn", profile: null, message: "second line" });
    expect(root.querySelector("#log")?.textContent).toContain("second line");
  });

  it("shows errors from the tray", async () => {
    const root = await mount();
    await emit("strait://error", {
      kind: "missing_secret",
      message: "Enter the pre-shared key of “Acme HQ” first",
      detail: null,
      secret: ["acme-hq", "psk"],
    });
    expect(root.querySelector("#error")?.textContent).toContain("Enter the pre-shared key");
  });
});

describe("autostart", () => {
  const box = (root: HTMLElement) => root.querySelector<HTMLInputElement>("#autostart")!;

  it("shows the setting and turns it on and off through the two commands", async () => {
    const root = await mount();
    expect(calls.map((c) => c.cmd)).toContain("autostart_enabled");
    expect(box(root).type).toBe("checkbox");
    expect(box(root).closest("label")?.textContent).toContain("Start Strait when I log in");
    expect(box(root).checked).toBe(false);

    box(root).click();
    await tick();
    expect(calls.filter((c) => c.cmd === "set_autostart").map((c) => c.args)).toEqual([
      { enabled: true },
    ]);
    expect(box(root).checked).toBe(true);
    expect(box(root).disabled).toBe(false);

    box(root).click();
    await tick();
    expect(calls.filter((c) => c.cmd === "set_autostart").slice(-1)[0]?.args).toEqual({ enabled: false });
    expect(box(root).checked).toBe(false);
  });

  it("starts checked when Strait already starts at login", async () => {
    autostart = true;
    const root = await mount();
    expect(box(root).checked).toBe(true);
  });

  it("puts the box back and says why when the change fails", async () => {
    reject.set_autostart = {
      kind: "autostart",
      message: "Cannot change whether Strait starts when you log in.",
      detail: "Permission denied",
      secret: null,
    };
    const root = await mount();
    box(root).click();
    await tick();
    expect(box(root).checked).toBe(false);
    expect(root.querySelector("#error .message")?.textContent).toContain("starts when you log in");
  });

  it("leaves the box off, and the window working, when the setting cannot be read", async () => {
    reject.autostart_enabled = "no autostart here";
    const root = await mount();
    expect(box(root).checked).toBe(false);
    expect(root.querySelector(".profile[data-id='acme-hq']")).not.toBeNull();
  });
});

describe("format", () => {
  it("formats bytes and durations", () => {
    expect(bytes(0)).toBe("0 B");
    expect(bytes(1536)).toBe("1.5 KiB");
    expect(bytes(5 * 1024 * 1024 * 1024)).toBe("5.0 GiB");
    expect(duration(5)).toBe("5 s");
    expect(duration(3725)).toBe("1 h 2 min");
  });
});
