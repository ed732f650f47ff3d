/**
 * The contract between the code and infra/ (no Bicep compiler here: the files are read as text).
 * - every app setting the code reads is set by infra or has a documented default, and is in
 *   local.settings.sample.json; nothing there or in infra/ looks like a secret;
 * - each built-in role GUID constant in the Bicep matches its documented role name; the custom roles grant
 *   what the code calls and nothing that writes, runs commands or deletes; the deploying user reads only
 *   unless a parameter says otherwise;
 * - the Function App, storage and the alert topic take the network and authentication parameters, basic
 *   publishing credentials are off, and Event Grid delivery to the function survives the restrictions;
 * - every azd environment variable of main.parameters.json is documented, and the README's Security
 *   section names every role granted;
 * - the Event Grid filter admits every operation the code maps, and nothing else of note;
 * - azure.yaml names its hooks and their scripts exist.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logFormatVariable } from '../../src/adapters/logger';
import { tableNames } from '../../src/adapters/table-names';
import { settingDefaults } from '../../src/config';
import { hostVariables } from '../../kit/local/local-app';
import { mappedOperations } from '../../src/domain/events';
import { HealthEventType } from '../../src/domain/health';

const root = path.resolve(__dirname, '..', '..');
const read = (relative: string): string => readFileSync(path.join(root, relative), 'utf8');

function filesUnder(relative: string, extensions: readonly string[]): string[] {
  const dir = path.join(root, relative);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => extensions.some((ext) => file.endsWith(ext)))
    .map((file) => path.join(relative, file));
}

function matchesOf(text: string, pattern: RegExp): string[] {
  return [...text.matchAll(pattern)].map((m) => m.slice(1).find((g) => g !== undefined) ?? '');
}

/** Quoted strings inside a Bicep array literal (one per line or comma-separated). */
function stringsIn(arrayBody: string): string[] {
  return matchesOf(arrayBody, /'([^']*)'/g);
}

// ---------------------------------------------------------------------------------------------------
// (a) Settings
// ---------------------------------------------------------------------------------------------------

/** Setting names the code reads, with where each was seen. */
function settingsReadByCode(): Map<string, string> {
  const patterns: RegExp[] = [
    /\benv\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]/g, // env['X'] (also inside process.env[...])
    /\benv\??\.([A-Z][A-Za-z0-9_]*)\b/g, // process.env.X
    /\(\s*env\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]/g, // setting(env, 'X'), positiveInteger(env, 'X')
    /['"`]%([A-Za-z_][A-Za-z0-9_]*)%['"`]/g, // schedule: '%X%'
    /\bconnection\s*:\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]/g, // connection: 'X'
  ];
  const found = new Map<string, string>();
  for (const file of [...filesUnder('src', ['.ts']), ...filesUnder('functions', ['.ts'])]) {
    const text = read(file);
    for (const pattern of patterns) for (const name of matchesOf(text, pattern)) found.set(name, file);
  }
  return found;
}

/** Keys of the app-settings block of infra/main.bicep (between `// <app-settings>` markers). */
function infraAppSettings(): Set<string> {
  const bicep = read('infra/main.bicep');
  const block = /\/\/ <app-settings>([\s\S]*?)\/\/ <\/app-settings>/.exec(bicep)?.[1];
  if (block === undefined) throw new Error('infra/main.bicep has no // <app-settings> block');
  return new Set(matchesOf(block, /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:/gm));
}

/** `X` is satisfied by `X` itself or by the identity-based form `X__serviceUri` etc. */
function providedBy(name: string, keys: ReadonlySet<string>): boolean {
  const base = name.split('__')[0]!;
  return keys.has(name) || [...keys].some((key) => key.startsWith(`${base}__`)) || keys.has(base);
}

const sampleValues = (): Record<string, string> =>
  (JSON.parse(read('local.settings.sample.json')) as { Values: Record<string, string> }).Values;

/** Text of every file in infra/ plus the sample settings (where no secret may appear). */
function configurationTexts(): Array<[string, string]> {
  return [
    ...filesUnder('infra', ['.bicep', '.json', '.sh', '.ps1', '.mjs']),
    'azure.yaml',
    'local.settings.sample.json',
  ].map((file) => [file, read(file)]);
}

describe('app settings contract', () => {
  const codeSettings = settingsReadByCode();

  it('finds the settings the code reads (the scan is not silently empty)', () => {
    // Anchors: if the scan stops recognising these, it has broken, not the code.
    for (const anchor of ['TIMELINE_STORAGE', 'ARM_ENDPOINT', 'SUBSCRIPTION_IDS', 'RECONCILE_SCHEDULE'])
      expect([...codeSettings.keys()]).toContain(anchor);
    expect(codeSettings.size).toBeGreaterThanOrEqual(6);
  });

  it('sets every setting the code reads in infra, or documents a default in settingDefaults', () => {
    const infra = infraAppSettings();
    const defaults = new Set(Object.keys(settingDefaults));
    const missing = [...codeSettings.keys()].filter(
      (name) => !providedBy(name, infra) && !defaults.has(name),
    );
    expect(missing, `read by code, not set by infra/main.bicep, no default`).toEqual([]);
  });

  it('sets every %SETTING% binding expression and queue connection in infra (the host resolves them, not our defaults)', () => {
    const infra = infraAppSettings();
    const bound = new Set<string>();
    for (const file of filesUnder('functions', ['.ts'])) {
      const text = read(file);
      for (const name of matchesOf(text, /['"`]%([A-Za-z_][A-Za-z0-9_]*)%['"`]/g)) bound.add(name);
      for (const name of matchesOf(text, /\bconnection\s*:\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]/g))
        bound.add(name);
    }
    expect(bound.size, 'no binding expressions found: the scan is broken').toBeGreaterThanOrEqual(2);
    expect([...bound].filter((name) => !providedBy(name, infra))).toEqual([]);
  });

  it('lists every setting the code reads in local.settings.sample.json', () => {
    const sample = new Set(Object.keys(sampleValues()));
    // An identity-based form (`X__tableServiceUri`) is covered by its connection-string form `X`.
    const missing = [...codeSettings.keys()].filter(
      (name) => !sample.has(name) && !sample.has(name.split('__')[0]!),
    );
    expect(missing, 'read by code, absent from local.settings.sample.json').toEqual([]);
  });

  it('sets every setting the later features read (the contract for the issues still to land)', () => {
    const infra = infraAppSettings();
    for (const name of [
      'ALERT_TOPIC_ENDPOINT',
      'STOPPED_ALERT_GRACE_MINUTES',
      'AUTO_DEALLOCATE_AFTER_MINUTES',
      'AUTO_DEALLOCATE_DRY_RUN',
      'EXPECTED_STOPPED_PATTERNS',
      'DETAILS_REFRESH_MINUTES',
      'RECONCILE_BUDGET_SECONDS',
      'BACKFILL_DAYS',
      'ACTIVITY_LOG_SCHEDULE',
      'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
    ])
      expect(infra).toContain(name);
  });

  it('documents the console variables of the CLI and the local host, which are not app settings', () => {
    // Read through a constant (env[hostVariables.port]), so the scan above does not count them as settings.
    const consoleVariables = [logFormatVariable, ...Object.values(hostVariables)];
    expect(consoleVariables).toEqual(['LOG_FORMAT', 'LOCAL_PORT', 'LOCAL_FUNCTION_KEY']);
    const infra = infraAppSettings();
    const readme = read('README.md');
    const sample = sampleValues();
    for (const name of consoleVariables) {
      expect([...codeSettings.keys()], `${name} is read as an app setting`).not.toContain(name);
      expect(infra, `${name} is set by infra`).not.toContain(name);
      expect(Object.keys(sample)).not.toContain(name);
      expect(readme, `${name} is not in the README`).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
    }
  });

  it('uses identity-based storage connections only, and no settings Flex Consumption rejects', () => {
    const infra = infraAppSettings();
    for (const connection of ['AzureWebJobsStorage', 'TIMELINE_STORAGE']) {
      expect(infra).toContain(`${connection}__credential`);
      expect(infra).toContain(`${connection}__clientId`);
      expect(infra).not.toContain(connection); // a plain value would be a connection string
    }
    expect(infra).toContain('TIMELINE_STORAGE__tableServiceUri');
    expect(infra).toContain('TIMELINE_STORAGE__queueServiceUri');
    expect(infra).not.toContain('FUNCTIONS_WORKER_RUNTIME');
    expect(infra).not.toContain('FUNCTIONS_EXTENSION_VERSION');
    expect(read('infra/main.bicep')).toMatch(/allowSharedKeyAccess:\s*false/);
    expect(read('infra/main.bicep')).toMatch(/disableLocalAuth:\s*true/);
    expect(read('infra/main.bicep')).toMatch(
      /APPLICATIONINSIGHTS_AUTHENTICATION_STRING:\s*'ClientId=\$\{identity\.outputs\.clientId\};Authorization=AAD'/,
    );
  });

  it('holds no secret in infra/, azure.yaml or local.settings.sample.json', () => {
    const secretPatterns: RegExp[] = [
      /AccountKey\s*=/i,
      /SharedAccessKey/i,
      /SharedAccessSignature/i,
      /[?&]sig=/i,
      /listKeys\s*\(/i,
      /listConnectionStrings\s*\(/i,
      /InstrumentationKey\s*=/i,
      /password/i,
      /client_?secret/i,
    ];
    const texts = configurationTexts();
    expect(texts.length).toBeGreaterThan(5);
    for (const [file, text] of texts)
      for (const pattern of secretPatterns)
        expect(text, `${file} matches ${String(pattern)}`).not.toMatch(pattern);
  });
});

// ---------------------------------------------------------------------------------------------------
// (b) Roles
// ---------------------------------------------------------------------------------------------------

// Built-in role names and ids, checked against "Azure built-in roles"
// (MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md, the tables of the
// Storage, Compute and Integration sections; https://learn.microsoft.com/azure/role-based-access-control/built-in-roles)
// and the per-category pages (built-in-roles/general for Reader). Monitoring Metrics Publisher:
// built-in-roles/monitor, and as used by Azure-Samples/functions-quickstart-* infra/app/rbac.bicep. The
// storage reader roles also as listed in the AVM storage-account module's builtInRoleNames.
const builtInRoles: Readonly<Record<string, string>> = {
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Table Data Reader': '76199698-9eea-4c19-bc75-cec21354c6b6',
  'Storage Queue Data Reader': '19e7f393-937e-4f77-808e-94535e297925',
  'Storage Blob Data Reader': '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  'EventGrid Data Sender': 'd5a91429-5739-47e2-a06b-3470a27159e7',
};
/** Virtual Machine Contributor: includes Run Command (code execution on every VM); never granted. */
const virtualMachineContributor = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c';

// Management actions, as named in "Azure permissions" (MicrosoftDocs/azure-docs
// articles/role-based-access-control/permissions/compute.md, monitor.md, management-and-governance.md).
/** What the app reads in a watched subscription (src/adapters/arm.ts), and what it will read next. */
const actionsTheAppReads: Readonly<Record<string, string>> = {
  'Microsoft.Compute/virtualMachines/read': 'listVmStatuses, listVmDetails (VM list, statusOnly and full)',
  'Microsoft.Compute/virtualMachines/instanceView/read': 'getInstanceView of a VM',
  'Microsoft.Compute/virtualMachineScaleSets/read': 'listScaleSets',
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read': 'listScaleSetInstances',
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read':
    'getInstanceView of a scale-set VM',
  'Microsoft.Resources/subscriptions/read': 'listSubscriptions (GET /subscriptions)',
  'Microsoft.Insights/eventtypes/values/read': 'Activity Log (eventtypes/management/values), planned',
  'Microsoft.Insights/metrics/read': 'metrics (metrics:getBatch), planned',
  'Microsoft.EventGrid/systemTopics/read': 'listSystemTopics (the coverage wiring read)',
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read':
    'listTopicEventSubscriptions (the coverage wiring read)',
};
/** What auto-deallocate does (src/adapters/arm.ts deallocate): read, deallocate, poll the operation. */
const actionsAutoDeallocateNeeds = [
  'Microsoft.Compute/virtualMachines/read',
  'Microsoft.Compute/virtualMachines/deallocate/action',
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action',
  'Microsoft.Compute/locations/operations/read',
];
/** Actions neither custom role may cover: code execution, changes, deletion, secrets, reads outside Compute. */
const actionsNeverGranted = [
  'Microsoft.Compute/virtualMachines/runCommand/action',
  'Microsoft.Compute/virtualMachines/runCommands/write',
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action',
  'Microsoft.Compute/virtualMachines/write',
  'Microsoft.Compute/virtualMachines/delete',
  'Microsoft.Compute/virtualMachines/start/action',
  'Microsoft.Compute/virtualMachines/powerOff/action',
  'Microsoft.Compute/virtualMachines/extensions/write',
  'Microsoft.Compute/virtualMachines/capture/action',
  'Microsoft.Compute/virtualMachineScaleSets/write',
  'Microsoft.Compute/virtualMachineScaleSets/deallocate/action',
  'Microsoft.Compute/disks/beginGetAccess/action',
  'Microsoft.Compute/snapshots/beginGetAccess/action',
  'Microsoft.Storage/storageAccounts/listKeys/action',
  'Microsoft.Authorization/roleAssignments/write',
  'Microsoft.Network/networkInterfaces/read',
];

/** Azure RBAC action matching: case-insensitive, `*` matches any run of characters. */
function actionCovers(pattern: string, action: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 'i').test(action);
}

/** The quoted strings of `var name = [ ... ]` in a Bicep file. */
function bicepStringArray(text: string, name: string): string[] {
  const body = new RegExp(`^var\\s+${name}\\s*=\\s*\\[([\\s\\S]*?)^\\]`, 'm').exec(text)?.[1];
  if (body === undefined) throw new Error(`no var ${name} = [ ... ]`);
  return stringsIn(body.replace(/\/\/.*$/gm, ''));
}

/** The identifiers of `var name = [ ... ]` (one per line) in a Bicep file. */
function bicepIdentifierArray(text: string, name: string): string[] {
  const body = new RegExp(`^var\\s+${name}\\s*=\\s*\\[([\\s\\S]*?)^\\]`, 'm').exec(text)?.[1];
  if (body === undefined) throw new Error(`no var ${name} = [ ... ]`);
  return matchesOf(body, /^\s*(\w+)\s*(?:\/\/.*)?$/gm);
}

/** The body of `resource <symbol> '<type>@...' = ... {` up to its closing brace at column 0. */
function bicepResource(text: string, symbol: string): string {
  const body = new RegExp(`^resource\\s+${symbol}\\s+'[^']+'\\s*=[^{]*\\{([\\s\\S]*?)^\\}`, 'm').exec(
    text,
  )?.[0];
  if (body === undefined) throw new Error(`no resource ${symbol}`);
  return body;
}

/** azd environment variable of each main.bicep parameter (main.parameters.json `${NAME=default}`). */
function azdEnvironment(): Map<string, { name: string; defaultValue: string | undefined }> {
  const parameters = (
    JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> }
  ).parameters;
  const found = new Map<string, { name: string; defaultValue: string | undefined }>();
  for (const [parameter, { value }] of Object.entries(parameters)) {
    const m = typeof value === 'string' ? /^\$\{([A-Z0-9_]+)(?:=([^}]*))?\}$/.exec(value) : null;
    if (m !== null) found.set(parameter, { name: m[1]!, defaultValue: m[2] });
  }
  return found;
}

/** `param name type = default` of main.bicep: the default's text. */
function mainParamDefault(name: string): string | undefined {
  return new RegExp(`^param\\s+${name}\\s+\\w+\\s*=\\s*(.+)$`, 'm')
    .exec(read('infra/main.bicep'))?.[1]
    ?.trim();
}

interface RoleConstant {
  file: string;
  variable: string;
  id: string;
  role: string;
}

function roleConstants(): RoleConstant[] {
  const constants: RoleConstant[] = [];
  for (const file of filesUnder('infra', ['.bicep'])) {
    const pattern =
      /^var\s+(\w+)\s*=\s*'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'\s*\/\/\s*([^:\n]+)/gim;
    for (const m of read(file).matchAll(pattern))
      constants.push({ file, variable: m[1]!, id: m[2]!.toLowerCase(), role: m[3]!.trim() });
  }
  return constants;
}

/** Splits `a, f(b, c), d` at its top-level commas. */
function topLevelArguments(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      args.push(current.trim());
      current = '';
    } else current += char;
  }
  args.push(current.trim());
  return args.filter((arg) => arg !== '');
}

describe('role assignments', () => {
  const constants = roleConstants();

  it('names each role GUID after the documented built-in role it is', () => {
    expect(constants.length).toBeGreaterThanOrEqual(Object.keys(builtInRoles).length);
    for (const constant of constants) {
      expect(Object.keys(builtInRoles), `${constant.file} ${constant.variable}`).toContain(constant.role);
      expect(constant.id, `${constant.file} ${constant.variable} (${constant.role})`).toBe(
        builtInRoles[constant.role],
      );
    }
  });

  it('grants every role the app needs, each through a named constant', () => {
    const granted = new Set(constants.map((c) => c.role));
    for (const role of Object.keys(builtInRoles)) expect(granted).toContain(role);
    // No GUID literal outside the commented constants (a role id written inline would escape the check).
    for (const file of filesUnder('infra', ['.bicep'])) {
      const guids = matchesOf(
        read(file),
        /'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'/gi,
      );
      for (const id of guids)
        expect(Object.values(builtInRoles), `${file}: ${id}`).toContain(id.toLowerCase());
    }
  });

  it('names each assignment guid(scope id, principal id, role id)', () => {
    let assignments = 0;
    for (const file of filesUnder('infra', ['.bicep'])) {
      const text = read(file);
      const pattern =
        /resource\s+\w+\s+'Microsoft\.Authorization\/roleAssignments@[^']+'\s*=\s*[^{]*\{\s*name:\s*guid\((.*)\)\s*$/gm;
      const declared = (text.match(/'Microsoft\.Authorization\/roleAssignments@/g) ?? []).length;
      const named = [...text.matchAll(pattern)];
      expect(named.length, `${file}: every roleAssignments resource is named guid(...)`).toBe(declared);
      for (const m of named) expect(topLevelArguments(m[1]!), `${file}: guid(${m[1]})`).toHaveLength(3);
      assignments += declared;
    }
    expect(assignments).toBeGreaterThanOrEqual(6);
  });

  it('grants a read role on each watched subscription, defaulting to the deployment subscription', () => {
    const main = read('infra/main.bicep');
    expect(main).toMatch(/param watchedSubscriptionIds array = [\s\S]*?\[subscription\(\)\.subscriptionId\]/);
    expect(main).toMatch(
      /for subscriptionId in watchedSubscriptionIds:[\s\S]*?scope:\s*subscription\(subscriptionId\)/,
    );
    expect(read('infra/app/watched-subscription.bicep')).toMatch(/targetScope = 'subscription'/);
  });

  it('never grants Virtual Machine Contributor (Run Command: code execution on every VM)', () => {
    for (const file of filesUnder('infra', ['.bicep'])) {
      expect(read(file).toLowerCase(), file).not.toContain(virtualMachineContributor);
      expect(read(file), file).not.toMatch(/virtualMachineContributor/i);
    }
  });
});

describe('custom roles on the watched subscriptions', () => {
  const watched = (): string => read('infra/app/watched-subscription.bicep');
  const covered = (patterns: readonly string[], action: string): boolean =>
    patterns.some((pattern) => actionCovers(pattern, action));

  it('matches actions the way Azure RBAC does (the check below cannot pass vacuously)', () => {
    expect(
      actionCovers('Microsoft.Compute/*/read', 'microsoft.compute/virtualMachines/instanceView/read'),
    ).toBe(true);
    expect(
      actionCovers('Microsoft.Compute/*/read', 'Microsoft.Compute/virtualMachines/runCommand/action'),
    ).toBe(false);
    expect(
      actionCovers('Microsoft.Compute/virtualMachines/read', 'Microsoft.Compute/virtualMachinesXread'),
    ).toBe(false);
  });

  it('deallocates through a custom role with VM read and deallocate actions only, when auto-deallocate is on', () => {
    const text = watched();
    const actions = bicepStringArray(text, 'vmDeallocatorActions');
    expect([...actions].sort()).toEqual(
      [
        'Microsoft.Compute/virtualMachines/read',
        'Microsoft.Compute/virtualMachines/instanceView/read',
        'Microsoft.Compute/virtualMachines/deallocate/action',
        'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read',
        'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read',
        'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action',
        'Microsoft.Compute/locations/operations/read',
      ].sort(),
    );
    for (const action of actions) {
      expect(action, 'no wildcard').not.toContain('*');
      expect(action.endsWith('/read') || action.endsWith('/deallocate/action'), action).toBe(true);
    }
    for (const action of actionsAutoDeallocateNeeds) expect(covered(actions, action), action).toBe(true);
    for (const action of actionsNeverGranted) expect(covered(actions, action), action).toBe(false);

    const definition = bicepResource(text, 'vmDeallocatorRole');
    expect(definition).toMatch(
      /'Microsoft\.Authorization\/roleDefinitions@[^']+'\s*=\s*if\s*\(grantVirtualMachineDeallocate\)/,
    );
    expect(definition).toMatch(/type:\s*'CustomRole'/);
    expect(definition).toMatch(/actions:\s*vmDeallocatorActions\s/);
    for (const empty of ['notActions', 'dataActions', 'notDataActions'])
      expect(definition).toMatch(new RegExp(`${empty}:\\s*\\[\\]`));
    // Assignable in the subscription and so in any of its resource groups; no wider scope.
    expect(definition).toMatch(/assignableScopes:\s*\[\s*subscription\(\)\.id\b[^\]]*\]/);
    expect(bicepResource(text, 'vmDeallocatorAssignment')).toMatch(
      /=\s*if\s*\(grantVirtualMachineDeallocate\)\s*\{\s*name:\s*guid\(subscription\(\)\.id,\s*identityPrincipalId,\s*vmDeallocatorRole\.id\)[\s\S]*roleDefinitionId:\s*vmDeallocatorRole\.id/,
    );
    expect(read('infra/main.bicep')).toMatch(
      /grantVirtualMachineDeallocate:\s*autoDeallocateAfterMinutes\s*>\s*0/,
    );
  });

  it('reads through a custom read role by default, covering every read the app makes and nothing that writes', () => {
    const text = watched();
    const actions = bicepStringArray(text, 'vmReaderActions');
    for (const action of actions) expect(action.toLowerCase().endsWith('/read'), action).toBe(true);
    for (const action of Object.keys(actionsTheAppReads))
      expect(covered(actions, action), `${action}: ${actionsTheAppReads[action]}`).toBe(true);
    for (const action of actionsNeverGranted) expect(covered(actions, action), action).toBe(false);

    const definition = bicepResource(text, 'vmReaderRole');
    expect(definition).toMatch(
      /'Microsoft\.Authorization\/roleDefinitions@[^']+'\s*=\s*if\s*\(useCustomReadRole\)/,
    );
    expect(definition).toMatch(/type:\s*'CustomRole'/);
    expect(definition).toMatch(/actions:\s*vmReaderActions\s/);
    expect(definition).toMatch(/assignableScopes:\s*\[\s*subscription\(\)\.id\b[^\]]*\]/);
    expect(bicepResource(text, 'vmReaderAssignment')).toMatch(
      /=\s*if\s*\(useCustomReadRole\)\s*\{\s*name:\s*guid\(subscription\(\)\.id,\s*identityPrincipalId,\s*vmReaderRole\.id\)/,
    );
    // The built-in Reader only when asked for (WATCHED_READ_ROLE=Reader).
    expect(bicepResource(text, 'readerAssignment')).toMatch(/=\s*if\s*\(!useCustomReadRole\)/);
    const main = read('infra/main.bicep');
    expect(main).toMatch(
      /@allowed\(\['VmReader', 'Reader'\]\)[\s\S]{0,400}param watchedSubscriptionReadRole string = 'VmReader'/,
    );
    expect(main).toMatch(/useCustomReadRole:\s*watchedSubscriptionReadRole == 'VmReader'/);
    expect(azdEnvironment().get('watchedSubscriptionReadRole')).toEqual({
      name: 'WATCHED_READ_ROLE',
      defaultValue: 'VmReader',
    });
  });

  it('names each custom role uniquely per deployment and subscription (role names are unique in a tenant)', () => {
    const text = watched();
    for (const symbol of ['vmReaderRole', 'vmDeallocatorRole']) {
      const definition = bicepResource(text, symbol);
      expect(definition).toMatch(/name:\s*guid\(subscription\(\)\.id,\s*roleNameSuffix,\s*'[^']+'\)/);
      expect(definition).toMatch(
        /roleName:\s*'[^']*\$\{roleNameSuffix\}[^']*\$\{subscription\(\)\.subscriptionId\}[^']*'/,
      );
    }
    expect(read('infra/main.bicep')).toMatch(/roleNameSuffix:\s*'\$\{environmentName\}-\$\{resourceToken\}'/);
  });
});

describe('data roles of the deploying user', () => {
  const rbac = (): string => read('infra/app/rbac.bicep');
  const rolesOf = (list: string): string[] => {
    const byVariable = new Map(
      roleConstants()
        .filter((c) => c.file.endsWith('rbac.bicep'))
        .map((c) => [c.variable, c.role]),
    );
    return bicepIdentifierArray(rbac(), list).map((variable) => byVariable.get(variable) ?? variable);
  };

  it('grants readers by default: tables, the queue and the dead-letter blobs', () => {
    expect(rolesOf('userReadRoles').sort()).toEqual(
      ['Storage Blob Data Reader', 'Storage Queue Data Reader', 'Storage Table Data Reader'].sort(),
    );
    expect(rbac()).toMatch(
      /for roleId in \(empty\(userPrincipalId\) \? \[\] : \(grantUserDataWrite \? userWriteRoles : userReadRoles\)\)/,
    );
    expect(rbac()).toMatch(/param grantUserDataWrite bool = false/);
    expect(mainParamDefault('grantUserDataWrite')).toBe('false');
    expect(read('infra/main.bicep')).toMatch(/grantUserDataWrite:\s*grantUserDataWrite/);
  });

  it('grants writers only behind GRANT_USER_DATA_WRITE, and never an Owner role', () => {
    expect(rolesOf('userWriteRoles').sort()).toEqual(
      [
        'Storage Blob Data Contributor',
        'Storage Queue Data Contributor',
        'Storage Table Data Contributor',
      ].sort(),
    );
    expect(azdEnvironment().get('grantUserDataWrite')).toEqual({
      name: 'GRANT_USER_DATA_WRITE',
      defaultValue: 'false',
    });
    for (const list of ['userReadRoles', 'userWriteRoles'])
      for (const role of rolesOf(list)) expect(role, list).not.toMatch(/Owner/);
  });
});

// ---------------------------------------------------------------------------------------------------
// (c) Event Grid filter
// ---------------------------------------------------------------------------------------------------

const eventSubscription = (): string => read('infra/app/event-subscription.bicep');

function operationNamePrefixes(): string[] {
  const text = eventSubscription();
  expect((text.match(/operatorType:/g) ?? []).length, 'exactly one advanced filter').toBe(1);
  const body =
    /operatorType:\s*'StringBeginsWith'\s*key:\s*'data\.operationName'\s*values:\s*\[([\s\S]*?)\]/.exec(
      text,
    )?.[1];
  if (body === undefined) throw new Error('no StringBeginsWith filter on data.operationName');
  return stringsIn(body);
}

/** Event Grid's StringBeginsWith compares case-insensitively. */
const admitted = (operation: string, prefixes: readonly string[]): boolean =>
  prefixes.some((prefix) => operation.toLowerCase().startsWith(prefix.toLowerCase()));

describe('Event Grid event subscription', () => {
  it('admits every operation the code maps', () => {
    const prefixes = operationNamePrefixes();
    const [vm, scaleSetInstance, scaleSet] = [
      'microsoft.compute/virtualmachines/',
      'microsoft.compute/virtualmachinescalesets/virtualmachines/',
      'microsoft.compute/virtualmachinescalesets/',
    ];
    expect(mappedOperations.prefixes).toEqual(expect.arrayContaining([vm, scaleSetInstance, scaleSet]));
    const operations = [
      ...[...mappedOperations.certain, ...mappedOperations.uncertain].flatMap((op) => [
        `${vm}${op}`,
        `${scaleSetInstance}${op}`,
      ]),
      ...mappedOperations.scaleSet.map((op) => `${scaleSet}${op}`),
      // Every prefix the code knows, with every operation, as Azure spells them (mixed case).
      ...mappedOperations.prefixes.flatMap((prefix) =>
        [...mappedOperations.certain, ...mappedOperations.uncertain, ...mappedOperations.scaleSet].map(
          (op) => `${prefix}${op}`,
        ),
      ),
      'Microsoft.Compute/virtualMachines/powerOff/action',
      'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action',
      'Microsoft.Compute/virtualMachineScaleSets/start/action',
    ];
    expect(operations.length).toBeGreaterThan(20);
    for (const operation of operations) expect(admitted(operation, prefixes), operation).toBe(true);
  });

  it('admits nothing of other resource types', () => {
    const prefixes = operationNamePrefixes();
    for (const operation of [
      'Microsoft.Storage/storageAccounts/write',
      'Microsoft.Storage/storageAccounts/listKeys/action',
      'Microsoft.Network/networkInterfaces/write',
      'Microsoft.Network/virtualNetworks/delete',
      'Microsoft.Compute/disks/write',
      'Microsoft.Compute/snapshots/delete',
      'Microsoft.Compute/availabilitySets/write',
      'Microsoft.Resources/deployments/write',
      'Microsoft.Web/sites/write',
    ])
      expect(admitted(operation, prefixes), operation).toBe(false);
  });

  it('includes exactly the nine resource event types', () => {
    const body = /includedEventTypes:\s*\[([\s\S]*?)\]/.exec(eventSubscription())?.[1] ?? '';
    const expected = ['Write', 'Delete', 'Action'].flatMap((verb) =>
      ['Success', 'Failure', 'Cancel'].map((outcome) => `Microsoft.Resources.Resource${verb}${outcome}`),
    );
    expect(stringsIn(body).sort()).toEqual(expected.sort());
  });

  it('delivers to the vmEvents function with retries and identity-based dead-lettering', () => {
    const text = eventSubscription();
    expect(text).toMatch(/endpointType:\s*'AzureFunction'/);
    expect(text).toMatch(/resourceId:\s*'\$\{functionAppResourceId\}\/functions\/vmEvents'/);
    expect(text).toMatch(/eventDeliverySchema:\s*'(EventGridSchema|CloudEventSchemaV1_0)'/);
    expect(text).toMatch(/maxDeliveryAttempts:\s*30/);
    expect(text).toMatch(/eventTimeToLiveInMinutes:\s*1440/);
    expect(text).toMatch(/deadLetterWithResourceIdentity:/);
    const topic = read('infra/app/system-topic.bicep');
    expect(topic).toMatch(/topicType:\s*topicType/);
    expect(topic).toMatch(/location:\s*'global'/);
    expect(read('infra/app/watched-subscription.bicep')).toMatch(
      /module systemTopic 'system-topic\.bicep' = if \(!hasResourcesTopic\)[\s\S]*?topicType:\s*'Microsoft\.Resources\.Subscriptions'/,
    );
  });
});

describe('Resource Health events and the one-topic rule', () => {
  const watched = (): string => read('infra/app/watched-subscription.bicep');
  const health = (): string => read('infra/app/health-event-subscription.bicep');

  it('creates, per watched subscription, the HealthResources system topic (location global) unless one exists', () => {
    expect(watched()).toMatch(
      /module healthSystemTopic 'system-topic\.bicep' = if \(!hasHealthTopic\)[\s\S]*?topicType:\s*'Microsoft\.ResourceNotifications\.HealthResources'/,
    );
    expect(read('infra/app/system-topic.bicep')).toMatch(
      /@allowed\(\['Microsoft\.Resources\.Subscriptions', 'Microsoft\.ResourceNotifications\.HealthResources'\]\)/,
    );
  });

  it('subscribes vmEvents to exactly the two health event types the code accepts, with retries and dead-lettering', () => {
    const text = health();
    const body = /includedEventTypes:\s*\[([\s\S]*?)\]/.exec(text)?.[1] ?? '';
    expect(stringsIn(body).sort()).toEqual(Object.values(HealthEventType).sort());
    expect(text).toMatch(/resourceId:\s*'\$\{functionAppResourceId\}\/functions\/vmEvents'/);
    expect(text).toMatch(/maxDeliveryAttempts:\s*30/);
    expect(text).toMatch(/eventTimeToLiveInMinutes:\s*1440/);
    expect(text).toMatch(
      /deadLetterWithResourceIdentity:\s*deadLetterWithAppIdentity\s*\?[\s\S]*?deadLetterDestination/,
    );
    expect(text).toMatch(/subscribeToHealthResources\/action/);
  });

  it('reuses a system topic that already exists for a source and type instead of creating a second one', () => {
    // The preprovision hook finds them (both shells), azd hands them to both deployments.
    for (const script of ['infra/scripts/preprovision.sh', 'infra/scripts/preprovision.ps1']) {
      const text = read(script);
      expect(text).toMatch(/az eventgrid system-topic list/);
      expect(text).toMatch(/Microsoft\.Resources\.Subscriptions/);
      expect(text).toMatch(/Microsoft\.ResourceNotifications\.HealthResources/);
      expect(text).toMatch(/azd env set EXISTING_SYSTEM_TOPICS/);
    }
    const hooks = yamlBlock(read('azure.yaml'), 'hooks');
    expect(matchesOf(yamlBlock(hooks, 'preprovision'), /run:\s*(\S+)/g).sort()).toEqual([
      './infra/scripts/preprovision.ps1',
      './infra/scripts/preprovision.sh',
    ]);
    expect(read('infra/main.parameters.json')).toMatch(
      /"existingSystemTopicsCsv":\s*\{\s*"value":\s*"\$\{EXISTING_SYSTEM_TOPICS\}"/,
    );
    expect(read('infra/main.bicep')).toMatch(/existingSystemTopicsCsv:\s*existingSystemTopicsCsv/);
    for (const script of ['infra/scripts/postdeploy.sh', 'infra/scripts/postdeploy.ps1'])
      expect(read(script)).toMatch(/existingSystemTopicsCsv=.*EXISTING_SYSTEM_TOPICS/);
    // Both event subscriptions go to the existing topic's resource group and name when there is one.
    const eventgrid = read('infra/eventgrid.bicep');
    for (const module of ['app/event-subscription.bicep', 'app/health-event-subscription.bicep'])
      expect(eventgrid).toContain(`'${module}'`);
    expect(eventgrid).toMatch(
      /systemTopicName:\s*empty\(target\.resources\) \? systemTopicName : last\(split\(target\.resources, '\/'\)\)/,
    );
    expect(eventgrid).toMatch(
      /systemTopicName:\s*empty\(target\.health\) \? healthSystemTopicName : last\(split\(target\.health, '\/'\)\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// (d) azure.yaml
// ---------------------------------------------------------------------------------------------------

/** The lines of a top-level or nested YAML block `key:` (by indentation). */
function yamlBlock(text: string, key: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\s*${key}:\\s*$`).test(line));
  if (start < 0) return '';
  const indent = /^\s*/.exec(lines[start]!)![0].length;
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && /^\s*/.exec(line)![0].length <= indent) break;
    body.push(line);
  }
  return body.join('\n');
}

describe('azure.yaml', () => {
  const yaml = read('azure.yaml');

  it('deploys this project as the function service', () => {
    const api = yamlBlock(yamlBlock(yaml, 'services'), 'api');
    expect(api).toMatch(/project:\s*\.\s*$/m);
    expect(api).toMatch(/host:\s*function\s*$/m);
    expect(api).toMatch(/language:\s*(ts|js)\s*$/m);
  });

  it('names the postprovision and postdeploy hooks, for sh and pwsh, and their scripts exist', () => {
    const hooks = yamlBlock(yaml, 'hooks');
    for (const hook of ['postprovision', 'postdeploy']) {
      const runs = matchesOf(yamlBlock(hooks, hook), /run:\s*(\S+)/g);
      expect(runs, hook).toHaveLength(2);
      expect(runs.some((run) => run.endsWith('.sh'))).toBe(true);
      expect(runs.some((run) => run.endsWith('.ps1'))).toBe(true);
      for (const run of runs) expect(existsSync(path.join(root, run)), run).toBe(true);
    }
  });

  it('creates the event subscriptions from infra/eventgrid.bicep after deploy', () => {
    expect(existsSync(path.join(root, 'infra/eventgrid.bicep'))).toBe(true);
    for (const script of ['infra/scripts/postdeploy.sh', 'infra/scripts/postdeploy.ps1'])
      expect(read(script)).toMatch(/az deployment sub create[\s\S]*infra\/eventgrid\.bicep/);
    // Every parameter eventgrid.bicep needs without a default comes from a main.bicep output.
    const outputs = new Set(matchesOf(read('infra/main.bicep'), /^output\s+(\w+)/gm));
    for (const name of [
      'SUBSCRIPTION_IDS',
      'AZURE_RESOURCE_GROUP',
      'EVENTGRID_SYSTEM_TOPIC_NAME',
      'AZURE_FUNCTION_APP_RESOURCE_ID',
      'AZURE_MANAGED_IDENTITY_RESOURCE_ID',
      'AZURE_STORAGE_ACCOUNT_RESOURCE_ID',
      'AZURE_FUNCTION_APP_NAME',
      'AZURE_STORAGE_ACCOUNT_NAME',
      'TIMELINE_TABLE_ENDPOINT',
      'ALERT_TOPIC_ENDPOINT',
    ])
      expect(outputs).toContain(name);
  });
});

// ---------------------------------------------------------------------------------------------------
// (e) Runtime: the tests, the engines field and the deployed Function App agree on one Node major
// ---------------------------------------------------------------------------------------------------

describe('the Node runtime', () => {
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  const major = /^>=(\d+)\./.exec(engines)?.[1];

  it('is the major that package.json engines names, also on a machine whose system Node is older', () => {
    expect(major).toBe('22');
    expect(process.versions.node.split('.')[0]).toBe(major);
  });

  it('is the major the Function App deploys (infra/main.bicep and the api module default)', () => {
    expect(read('infra/main.bicep')).toMatch(new RegExp(`runtimeVersion: '${major}'`));
    expect(read('infra/app/api.bicep')).toMatch(new RegExp(`param runtimeVersion string = '${major}'`));
  });
});

// ---------------------------------------------------------------------------------------------------
// (f) Network and authentication: parameters, wired to azd env variables, documented; Event Grid delivery
// to the function keeps working with them on
// ---------------------------------------------------------------------------------------------------

describe('network and authentication', () => {
  const api = (): string => read('infra/app/api.bicep');
  const main = (): string => read('infra/main.bicep');

  it('disables FTP and SCM basic publishing credentials, unconditionally', () => {
    expect(api()).toMatch(
      /^\s*basicPublishingCredentialsPolicies:\s*\[\s*\{\s*name:\s*'ftp',\s*allow:\s*false\s*\}\s*\{\s*name:\s*'scm',\s*allow:\s*false\s*\}\s*\]/m,
    );
    expect(api()).toMatch(/ftpsState:\s*'Disabled'/);
  });

  it('restricts the Function App and its SCM site to ALLOWED_IP_RANGES, keeping Event Grid (service tag AzureEventGrid)', () => {
    const text = api();
    expect(text).toMatch(/param allowedIpRanges array = \[\]/);
    // Event Grid's deliveries come from the AzureEventGrid service tag: allowed whenever restrictions are on.
    expect(text).toMatch(
      /var ipSecurityRestrictions = empty\(allowedIpRanges\)\s*\?\s*\[\]\s*:\s*concat\(\s*\[\s*\{[^}]*action:\s*'Allow'\s*tag:\s*'ServiceTag'\s*ipAddress:\s*'AzureEventGrid'/,
    );
    expect(text).toMatch(/ipSecurityRestrictions:\s*ipSecurityRestrictions\s/);
    expect(text).toMatch(
      /ipSecurityRestrictionsDefaultAction:\s*empty\(allowedIpRanges\)\s*\?\s*'Allow'\s*:\s*'Deny'/,
    );
    expect(text).toMatch(/scmIpSecurityRestrictionsUseMain:\s*true/);
    expect(main()).toMatch(/allowedIpRanges:\s*allowedIpRanges\s/);
    expect(azdEnvironment().get('allowedIpRangesCsv')?.name).toBe('ALLOWED_IP_RANGES');
  });

  it('locks storage to the app subnet and ALLOWED_IP_RANGES when APP_SUBNET_RESOURCE_ID is set, with the trusted-service bypass Event Grid dead letters need', () => {
    const text = main();
    const acls = /networkAcls:\s*\{([\s\S]*?)\n {4}\}/.exec(text)?.[1] ?? '';
    expect(acls).toMatch(/defaultAction:\s*lockStorageNetwork\s*\?\s*'Deny'\s*:\s*'Allow'/);
    expect(acls).toMatch(/bypass:\s*'AzureServices'/);
    expect(acls).toMatch(
      /ipRules:\s*\[for ip in \(lockStorageNetwork \? storageAllowedIps : \[\]\):\s*\{\s*value:\s*ip,\s*action:\s*'Allow'\s*\}\]/,
    );
    expect(acls).toMatch(
      /virtualNetworkRules:\s*lockStorageNetwork\s*\?\s*\[\{\s*id:\s*appSubnetResourceId,\s*action:\s*'Allow'\s*\}\]\s*:\s*\[\]/,
    );
    expect(text).toMatch(/var lockStorageNetwork = !empty\(appSubnetResourceId\)/);
    expect(text).toMatch(/virtualNetworkSubnetId:\s*appSubnetResourceId/);
    expect(api()).toMatch(
      /virtualNetworkSubnetId:\s*empty\(virtualNetworkSubnetId\)\s*\?\s*null\s*:\s*virtualNetworkSubnetId/,
    );
    expect(azdEnvironment().get('appSubnetResourceId')?.name).toBe('APP_SUBNET_RESOURCE_ID');
    // Dead letters pass the firewall as a trusted service only because they are written with the identity.
    expect(eventSubscription()).toMatch(/deadLetterWithResourceIdentity:/);
  });

  it('limits the alert topic to ALERT_TOPIC_ALLOWED_IP_RANGES publishers, Entra ID only', () => {
    const alerts = read('infra/app/alerts.bicep');
    expect(alerts).toMatch(/param allowedIpRanges array = \[\]/);
    expect(alerts).toMatch(
      /inboundIpRules:\s*\[\s*for ipMask in allowedIpRanges:\s*\{\s*ipMask:\s*ipMask\s*action:\s*'Allow'\s*\}\s*\]/,
    );
    expect(alerts).toMatch(/disableLocalAuth:\s*true/);
    expect(main()).toMatch(/allowedIpRanges:\s*alertTopicAllowedIpRanges\s/);
    expect(azdEnvironment().get('alertTopicAllowedIpRangesCsv')?.name).toBe('ALERT_TOPIC_ALLOWED_IP_RANGES');
  });

  it('puts App Service Authentication (Entra ID) in front of the dashboard and API with AUTH_CLIENT_ID, leaving the Event Grid webhook to its system key', () => {
    const text = api();
    expect(text).toMatch(
      /authSettingV2Configuration:\s*empty\(authClientId\)\s*\?\s*null\s*:\s*authSettingV2Configuration/,
    );
    const settings = /var authSettingV2Configuration = \{([\s\S]*?)\n\}/.exec(text)?.[1] ?? '';
    expect(settings).toMatch(/requireAuthentication:\s*true/);
    expect(settings).toMatch(/unauthenticatedClientAction:\s*'RedirectToLoginPage'/);
    expect(settings).toMatch(/azureActiveDirectory:\s*\{\s*enabled:\s*true/);
    expect(settings).toMatch(/clientId:\s*authClientId/);
    expect(settings).toMatch(
      /openIdIssuer:\s*'\$\{environment\(\)\.authentication\.loginEndpoint\}\$\{authTenantId\}\/v2\.0'/,
    );
    expect(settings).toMatch(/'api:\/\/\$\{authClientId\}'/);
    // The excluded path is the one Event Grid delivers to, as the local host serves it.
    expect(settings).toMatch(/excludedPaths:\s*\[\s*eventGridWebhookPath\s*\]/);
    const webhookPath = /var eventGridWebhookPath = '([^']+)'/.exec(text)?.[1];
    expect(webhookPath).toBe('/runtime/webhooks/eventgrid');
    const localHost = filesUnder('kit/local', ['.ts']).map(read).join('\n');
    expect(localHost.toLowerCase()).toContain(`'${webhookPath}'`);
    expect(azdEnvironment().get('authClientId')?.name).toBe('AUTH_CLIENT_ID');
    expect(main()).toMatch(/authClientId:\s*authClientId\s/);
  });
});

describe('README: parameters and security', () => {
  const readme = read('README.md');
  const section = (heading: string): string => {
    const start = readme.indexOf(`\n## ${heading}\n`);
    if (start < 0) return '';
    const end = readme.indexOf('\n## ', start + 1);
    return readme.slice(start, end < 0 ? undefined : end);
  };

  it('documents every azd environment variable of main.parameters.json in the Deployment section', () => {
    const environment = azdEnvironment();
    expect(environment.size).toBeGreaterThanOrEqual(15);
    const deployment = section('Deployment');
    for (const [parameter, { name }] of environment)
      if (!name.startsWith('AZURE_')) expect(deployment, `${name} (${parameter})`).toContain(`\`${name}\``);
  });

  it("lists in its Security section every role the infra grants, with the custom roles' actions", () => {
    const security = section('Security');
    expect(security, 'README has a "## Security" section').not.toBe('');
    const granted = new Set(roleConstants().map((c) => c.role));
    expect(granted.size).toBeGreaterThanOrEqual(10);
    for (const role of granted) expect(security, role).toContain(role);
    for (const role of ['VM Billing Timeline VM Reader', 'VM Billing Timeline VM Deallocator'])
      expect(security, role).toContain(role);
    const watched = read('infra/app/watched-subscription.bicep');
    for (const action of [
      ...bicepStringArray(watched, 'vmReaderActions'),
      ...bicepStringArray(watched, 'vmDeallocatorActions'),
    ])
      expect(security, action).toContain(`\`${action}\``);
    expect(security).toContain('AzureEventGrid');
  });
});

// ---------------------------------------------------------------------------------------------------
// Management-group mode (infra/management-group.bicep)
// ---------------------------------------------------------------------------------------------------

/** The balanced `{ ... }` that follows the first `properties: {` after `marker`. */
function propertiesBlockAfter(text: string, marker: string): string {
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`no ${marker}`);
  const start = text.indexOf('properties: {', at);
  let depth = 0;
  for (let i = text.indexOf('{', start); i < text.length; i++) {
    if (text[i] === '{') depth += 1;
    if (text[i] === '}') depth -= 1;
    if (depth === 0) return text.slice(start, i + 1);
  }
  throw new Error(`unbalanced properties after ${marker}`);
}

/** The balanced `{ ... }` that follows the first `{` after `marker`. */
function blockAfter(text: string, marker: string): string {
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`no ${marker}`);
  const start = text.indexOf('{', at + marker.length - 1);
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '{') depth += 1;
    if (text[i] === '}') depth -= 1;
    if (depth === 0) return text.slice(start, i + 1);
  }
  throw new Error(`unbalanced block after ${marker}`);
}

/**
 * The event subscription's properties, one trimmed line each, comments dropped, with the three values
 * that come from parameters (written `${p}` in Bicep, `[parameters('p')]` in the policy's ARM template)
 * replaced by the parameter's name.
 */
function eventWiringLines(block: string): string[] {
  return block
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => {
      const m = /^(resourceId|userAssignedIdentity|blobContainerName):\s*(.+)$/.exec(line);
      if (m === null) return line;
      const parameter = /(\w+)\}?'?\)?\]?'?$/.exec(
        m[2]!.replace(/\/functions\/vmEvents.*$/, '/functions/vmEvents'),
      );
      const name = /functionAppResourceId/.test(m[2]!)
        ? 'functionAppResourceId/functions/vmEvents'
        : (/(identityResourceId|storageAccountResourceId|deadLetterContainerName)/.exec(m[2]!)?.[1] ??
          parameter?.[1]);
      return `${m[1]}: <${name}>`;
    });
}

describe('management-group mode', () => {
  const mg = (): string => read('infra/management-group.bicep');
  const covered = (patterns: readonly string[], action: string): boolean =>
    patterns.some((pattern) => actionCovers(pattern, action));

  /** The `deadLetterWithAppIdentity ? {…} : null` lines of the module as its `true` branch. */
  function appIdentityBranch(lines: string[]): string[] {
    const start = lines.indexOf('deadLetterWithResourceIdentity: deadLetterWithAppIdentity');
    if (start < 0 || lines[start + 1] !== '? {') return lines;
    const end = lines.indexOf(': null', start);
    expect(end).toBeGreaterThan(start);
    return [
      ...lines.slice(0, start),
      'deadLetterWithResourceIdentity: {',
      ...lines.slice(start + 2, end),
      ...lines.slice(end + 1),
    ];
  }

  /** The template a policy deploys (`var <name>Template = {…}` up to the next top-level declaration). */
  function template(name: string): string {
    const text = mg();
    const start = text.indexOf(`var ${name} = {`);
    if (start < 0) throw new Error(`no var ${name}`);
    const end = text.indexOf('\nresource ', start);
    const next = text.indexOf('\nvar ', start + 1);
    return text.slice(start, next > 0 && next < end ? next : end);
  }

  // Each policy against the per-subscription module it mirrors.
  const wirings = [
    {
      what: 'resource events',
      template: 'eventWiringTemplate',
      module: 'infra/app/event-subscription.bicep',
      moduleResource: 'resource vmEvents',
      topicType: 'Microsoft.Resources.Subscriptions',
      policy: 'eventWiringPolicy',
      assignment: 'eventWiringAssignment',
      role: 'eventWiringDeployerRole',
      roleAssignment: 'eventWiringDeployerAssignment',
      actions: 'eventWiringDeployerActions',
      remediation: 'remediation',
      reuseTemplate: 'eventReuseWiringTemplate',
      reusePolicy: 'eventReuseWiringPolicy',
      reuseAssignment: 'eventReuseWiringAssignment',
      reuseRoleAssignment: 'eventReuseWiringDeployerAssignment',
      reuseRemediation: 'eventReuseRemediation',
      topicNameParameter: 'systemTopicName',
      eventSubscriptionNameParameter: 'eventSubscriptionName',
      anchors: ["operatorType: 'StringBeginsWith'", "'Microsoft.Resources.ResourceActionSuccess'"],
    },
    {
      what: 'Resource Health events',
      template: 'healthWiringTemplate',
      module: 'infra/app/health-event-subscription.bicep',
      moduleResource: 'resource healthEvents',
      topicType: 'Microsoft.ResourceNotifications.HealthResources',
      policy: 'healthWiringPolicy',
      assignment: 'healthWiringAssignment',
      role: 'healthWiringDeployerRole',
      roleAssignment: 'healthWiringDeployerAssignment',
      actions: 'healthWiringDeployerActions',
      remediation: 'healthRemediation',
      reuseTemplate: 'healthReuseWiringTemplate',
      reusePolicy: 'healthReuseWiringPolicy',
      reuseAssignment: 'healthReuseWiringAssignment',
      reuseRoleAssignment: 'healthReuseWiringDeployerAssignment',
      reuseRemediation: 'healthReuseRemediation',
      topicNameParameter: 'healthSystemTopicName',
      eventSubscriptionNameParameter: 'healthEventSubscriptionName',
      anchors: [
        "'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'",
        "'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged'",
      ],
    },
  ] as const;

  for (const wiring of wirings) {
    it(`the policy's deployment creates exactly the event subscription the per-subscription infra creates (${wiring.what})`, () => {
      // The per-subscription module dead-letters with the app's identity unless it reuses a foreign topic
      // (`deadLetterWithAppIdentity ? {…} : null`); the policy always creates the topic with that identity,
      // so it is compared with the module's `true` branch.
      const perSubscription = appIdentityBranch(
        eventWiringLines(propertiesBlockAfter(read(wiring.module), wiring.moduleResource)),
      );
      const policy = eventWiringLines(
        propertiesBlockAfter(
          template(wiring.template),
          "type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'\n              apiVersion",
        ),
      );
      // Anchors (the comparison cannot pass on two empty blocks): destination, retries, dead letters, filter.
      for (const line of [
        'maxDeliveryAttempts: 30',
        'eventTimeToLiveInMinutes: 1440',
        'resourceId: <functionAppResourceId/functions/vmEvents>',
        'blobContainerName: <deadLetterContainerName>',
        'userAssignedIdentity: <identityResourceId>',
        ...wiring.anchors,
      ])
        expect(perSubscription).toContain(line);
      expect(policy).toEqual(perSubscription);
      // Same API version of the event subscription and the system topic.
      const apiVersion = (text: string, type: string) =>
        new RegExp(`${type.replace(/[./]/g, '\\$&')}(?:@|'\\s*apiVersion:\\s*')([0-9-]+)`).exec(text)?.[1];
      for (const type of [
        'Microsoft.EventGrid/systemTopics/eventSubscriptions',
        'Microsoft.EventGrid/systemTopics',
      ])
        expect(
          apiVersion(template(wiring.template).replace(/type: '([^']+)'\n\s*apiVersion: '/g, '$1@'), type),
        ).toBe(apiVersion(read(wiring.module) + read('infra/app/system-topic.bicep'), type));
    });

    it(`the policy's deployment creates the ${wiring.topicType} system topic as app/system-topic.bicep does`, () => {
      const text = template(wiring.template);
      const topic = propertiesBlockAfter(text, "type: 'Microsoft.EventGrid/systemTopics'\n");
      expect(topic).toMatch(/source:\s*'\[subscription\(\)\.id\]'/);
      expect(topic).toContain(`topicType: '${wiring.topicType}'`);
      const resource = text.slice(text.indexOf("type: 'Microsoft.EventGrid/systemTopics'\n"));
      expect(resource).toMatch(/^[\s\S]{0,200}location:\s*'global'/);
      expect(resource).toMatch(/^[\s\S]{0,400}type:\s*'UserAssigned'/);
      // The per-subscription infra creates that topic type too.
      expect(read('infra/app/watched-subscription.bicep')).toContain(`topicType: '${wiring.topicType}'`);
    });

    it(`is a DeployIfNotExists policy on every subscription (${wiring.what}), with its own identity holding only what the deployment needs`, () => {
      const text = mg();
      const policy = bicepResource(text, wiring.policy);
      expect(policy).toMatch(/if:\s*\{\s*field:\s*'type'\s*equals:\s*'Microsoft\.Resources\/subscriptions'/);
      expect(policy).toMatch(/effect:\s*'deployIfNotExists'/);
      expect(policy).toMatch(/deploymentScope:\s*'subscription'/);
      expect(policy).toMatch(/existenceScope:\s*'subscription'/);
      // One system topic per source and type: compliant when the subscription has one of that type under
      // any name (ours, or a customer's the reuse policy wires), so remediation never tries a second one.
      const details = blockAfter(policy, 'details: {');
      const lookup = details.slice(0, details.indexOf('deployment:'));
      expect(lookup).toMatch(/^\s*type:\s*'Microsoft\.EventGrid\/systemTopics'$/m);
      expect(lookup, 'no name: any topic of the type').not.toMatch(/^\s*name:/m);
      expect(lookup, 'no resource group: anywhere in the subscription').not.toMatch(/resourceGroupName:/);
      const existence = blockAfter(lookup, 'existenceCondition: {');
      expect(existence).toMatch(
        new RegExp(
          `field:\\s*'Microsoft\\.EventGrid/systemTopics/topicType'\\s*equals:\\s*'${wiring.topicType.replace(/\./g, '\\.')}'`,
        ),
      );
      expect(existence).toMatch(
        /field:\s*'Microsoft\.EventGrid\/systemTopics\/source'\s*equals:\s*'\[subscription\(\)\.id\]'/,
      );
      expect(existence).toMatch(/^\{\s*allOf:/);
      expect(policy).toContain(`template: ${wiring.template}`);
      expect(policy).toMatch(new RegExp(`roleDefinitionIds:\\s*\\[\\s*${wiring.role}\\.id\\s*\\]`));
      const assignment = bicepResource(text, wiring.assignment);
      expect(assignment).toMatch(/identity:\s*\{\s*type:\s*'SystemAssigned'/);
      expect(assignment).toContain(`policyDefinitionId: ${wiring.policy}.id`);
      expect(bicepResource(text, wiring.roleAssignment)).toMatch(
        new RegExp(
          `roleDefinitionId:\\s*${wiring.role}\\.id[\\s\\S]*principalId:\\s*${wiring.assignment}\\.identity\\.principalId`,
        ),
      );
      expect(bicepResource(text, wiring.remediation)).toContain(
        `policyAssignmentId: ${wiring.assignment}.id`,
      );
      expect(bicepResource(text, wiring.role)).toMatch(new RegExp(`actions:\\s*${wiring.actions}\\b`));

      const deployer = bicepStringArray(text, wiring.actions);
      for (const action of deployer) expect(action, 'no wildcard').not.toContain('*');
      // Exactly the resource types the template deploys, plus what deploying them needs.
      const deployedTypes = matchesOf(
        template(wiring.template),
        /type:\s*'(Microsoft\.[A-Za-z]+\/[A-Za-z/]+)'/g,
      );
      expect(new Set(deployedTypes).size).toBe(4);
      for (const type of new Set(deployedTypes)) {
        // A resource group's actions sit under the subscription (Microsoft.Resources/subscriptions/resourceGroups/write).
        const action = `${type.replace('Microsoft.Resources/resourceGroups', 'Microsoft.Resources/subscriptions/resourceGroups')}/write`;
        expect(covered(deployer, action), action).toBe(true);
      }
      // Subscribing to Resource Health is the health policy's only extra (Event Grid checks it when the
      // event subscription on a HealthResources topic is created); the resource policy has none.
      const subscribeToHealth =
        'Microsoft.ResourceNotifications/systemTopics/subscribeToHealthResources/action';
      expect(covered(deployer, subscribeToHealth)).toBe(
        wiring.topicType !== 'Microsoft.Resources.Subscriptions',
      );
      for (const action of [
        ...actionsNeverGranted,
        'Microsoft.Authorization/policyAssignments/write',
        'Microsoft.Compute/virtualMachines/read',
      ])
        expect(covered(deployer, action), action).toBe(false);
    });

    it(`reuses an existing ${wiring.topicType} system topic of any name: the reuse policy adds exactly the per-subscription event subscription to it`, () => {
      const text = template(wiring.reuseTemplate);
      // The per-subscription module with its `deadLetterWithAppIdentity` (true: our topic; false: a reused
      // one), against the reuse template's `if(parameters('deadLetterWithAppIdentity'), variables(...), null())`.
      const moduleLines = eventWiringLines(propertiesBlockAfter(read(wiring.module), wiring.moduleResource));
      expect(moduleLines).toContain(': null');
      const perSubscription = appIdentityBranch(moduleLines);
      const reuse = eventWiringLines(
        propertiesBlockAfter(text, "type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'"),
      );
      const conditional =
        "deadLetterWithResourceIdentity: '[if(parameters(\\'deadLetterWithAppIdentity\\'), variables(\\'deadLetterWithAppIdentity\\'), null())]'";
      const at = reuse.indexOf(conditional);
      expect(at, 'dead letters only when the topic carries the app identity').toBeGreaterThan(0);
      const deadLetter = eventWiringLines(
        blockAfter(blockAfter(text, 'variables: {'), 'deadLetterWithAppIdentity: {'),
      );
      expect(deadLetter[0]).toBe('{');
      const expanded = [
        ...reuse.slice(0, at),
        'deadLetterWithResourceIdentity: {',
        ...deadLetter.slice(1),
        ...reuse.slice(at + 1),
      ];
      for (const line of [
        'maxDeliveryAttempts: 30',
        'resourceId: <functionAppResourceId/functions/vmEvents>',
        'blobContainerName: <deadLetterContainerName>',
        'userAssignedIdentity: <identityResourceId>',
        ...wiring.anchors,
      ])
        expect(expanded).toContain(line);
      expect(expanded).toEqual(perSubscription);
      // Only the event subscription: never a second topic of that source and type.
      expect(matchesOf(text, /type:\s*'(Microsoft\.[A-Za-z]+\/[A-Za-z/]+)'/g)).toEqual([
        'Microsoft.EventGrid/systemTopics/eventSubscriptions',
      ]);
      expect(text).toMatch(/deploymentTemplate\.json#/); // deployed at the topic's resource group
      expect(text).toMatch(/deadLetterWithAppIdentity:\s*\{\s*type:\s*'bool'\s*\}/);
      const apiVersionOf = (t: string) =>
        /Microsoft\.EventGrid\/systemTopics\/eventSubscriptions(?:@|'\s*apiVersion:\s*')([0-9-]+)/.exec(
          t,
        )?.[1];
      expect(apiVersionOf(text)).toBe(apiVersionOf(read(wiring.module)));
    });

    it(`is a DeployIfNotExists policy on each existing ${wiring.topicType} topic (reuse), looking for our event subscription, with its own identity and the least-privilege deployer role`, () => {
      const text = mg();
      const policy = bicepResource(text, wiring.reusePolicy);
      const condition = blockAfter(policy, 'if: {');
      expect(condition).toMatch(/field:\s*'type'\s*equals:\s*'Microsoft\.EventGrid\/systemTopics'/);
      expect(condition).toMatch(
        new RegExp(
          `field:\\s*'Microsoft\\.EventGrid/systemTopics/topicType'\\s*equals:\\s*'${wiring.topicType.replace(/\./g, '\\.')}'`,
        ),
      );
      expect(condition, 'any name').not.toMatch(/'name'|fullName/);
      expect(policy).toMatch(/effect:\s*'deployIfNotExists'/);
      const details = blockAfter(policy, 'details: {');
      const lookup = details.slice(0, details.indexOf('deployment:'));
      // A child of the evaluated topic, looked up under it by our event subscription's name.
      expect(lookup).toMatch(/type:\s*'Microsoft\.EventGrid\/systemTopics\/eventSubscriptions'/);
      expect(lookup).toMatch(/name:\s*'\[parameters\(\\'eventSubscriptionName\\'\)\]'/);
      expect(lookup).not.toMatch(/existenceScope|deploymentScope/); // the topic's resource group
      expect(details).toContain(`template: ${wiring.reuseTemplate}`);
      // Onto the evaluated topic; dead letters only on ours (the topic created with the app's identity).
      expect(details).toMatch(/systemTopicName:\s*\{\s*value:\s*'\[field\(\\'name\\'\)\]'\s*\}/);
      expect(details).toMatch(
        /deadLetterWithAppIdentity:\s*\{\s*value:\s*'\[equals\(toLower\(field\(\\'name\\'\)\), toLower\(parameters\(\\'systemTopicName\\'\)\)\)\]'\s*\}/,
      );
      // Every parameter of the template is given by the policy.
      const given = matchesOf(blockAfter(details, 'parameters: {'), /^\s*(\w+):\s*\{\s*value:/gm);
      const declared = matchesOf(
        blockAfter(template(wiring.reuseTemplate), 'parameters: {'),
        /^\s*(\w+):\s*\{\s*type:/gm,
      );
      expect(given.sort()).toEqual(declared.sort());
      expect(policy).toMatch(new RegExp(`roleDefinitionIds:\\s*\\[\\s*${wiring.role}\\.id\\s*\\]`));

      const assignment = bicepResource(text, wiring.reuseAssignment);
      expect(assignment).toMatch(/identity:\s*\{\s*type:\s*'SystemAssigned'/);
      expect(assignment).toContain(`policyDefinitionId: ${wiring.reusePolicy}.id`);
      expect(assignment).toMatch(
        new RegExp(`systemTopicName:\\s*\\{\\s*value:\\s*${wiring.topicNameParameter}\\s*\\}`),
      );
      expect(assignment).toMatch(
        new RegExp(
          `eventSubscriptionName:\\s*\\{\\s*value:\\s*${wiring.eventSubscriptionNameParameter}\\s*\\}`,
        ),
      );
      // The same names as the policy that creates the topic, so our own topic is compliant.
      const creating = bicepResource(text, wiring.assignment);
      for (const name of ['systemTopicName', 'eventSubscriptionName'])
        expect(creating).toMatch(
          new RegExp(
            `${name}:\\s*\\{\\s*value:\\s*${name === 'systemTopicName' ? wiring.topicNameParameter : wiring.eventSubscriptionNameParameter}\\s*\\}`,
          ),
        );
      expect(bicepResource(text, wiring.reuseRoleAssignment)).toMatch(
        new RegExp(
          `roleDefinitionId:\\s*${wiring.role}\\.id[\\s\\S]*principalId:\\s*${wiring.reuseAssignment}\\.identity\\.principalId`,
        ),
      );
      expect(bicepResource(text, wiring.reuseRemediation)).toContain(
        `policyAssignmentId: ${wiring.reuseAssignment}.id`,
      );
      // The deployer role covers the reuse deployment and nothing that reads VMs or grants access.
      const deployer = bicepStringArray(text, wiring.actions);
      for (const action of [
        'Microsoft.EventGrid/systemTopics/eventSubscriptions/write',
        'Microsoft.Resources/deployments/write',
      ])
        expect(covered(deployer, action), action).toBe(true);
      for (const action of [...actionsNeverGranted, 'Microsoft.Compute/virtualMachines/read'])
        expect(covered(deployer, action), action).toBe(false);
      // Health only behind wireHealthEvents, as the policy that creates the topic.
      const gate = wiring.topicType === 'Microsoft.Resources.Subscriptions' ? null : 'wireHealthEvents';
      for (const symbol of [wiring.reusePolicy, wiring.reuseAssignment, wiring.reuseRoleAssignment])
        expect(bicepResource(text, symbol), symbol).toMatch(
          gate === null ? /'\s*=\s*\{/ : /= if \(wireHealthEvents\) \{/,
        );
      expect(bicepResource(text, wiring.reuseRemediation)).toMatch(
        gate === null ? /= if \(remediateExisting\) \{/ : /= if \(remediateExisting && wireHealthEvents\) \{/,
      );
    });
  }

  it('wires Resource Health only behind wireHealthEvents, each policy with its own role (least privilege)', () => {
    const text = mg();
    expect(text).toMatch(/^param wireHealthEvents bool = true$/m);
    for (const symbol of [
      'healthWiringDeployerRole',
      'healthWiringPolicy',
      'healthWiringAssignment',
      'healthWiringDeployerAssignment',
    ])
      expect(bicepResource(text, symbol), symbol).toMatch(/= if \(wireHealthEvents\) \{/);
    expect(bicepResource(text, 'healthRemediation')).toMatch(
      /= if \(remediateExisting && wireHealthEvents\) \{/,
    );
    const resourceActions = bicepStringArray(text, 'eventWiringDeployerActions');
    const healthActions = bicepStringArray(text, 'healthWiringDeployerActions');
    expect(healthActions.filter((a) => !resourceActions.includes(a))).toEqual([
      'Microsoft.ResourceNotifications/systemTopics/subscribeToHealthResources/action',
    ]);
    expect(resourceActions.filter((a) => !healthActions.includes(a))).toEqual([]);
    // The health assignment deploys the health topic's name and event subscription name.
    const assignment = bicepResource(text, 'healthWiringAssignment');
    expect(assignment).toMatch(/systemTopicName:\s*\{\s*value:\s*healthSystemTopicName\s*\}/);
    expect(assignment).toMatch(/eventSubscriptionName:\s*\{\s*value:\s*healthEventSubscriptionName\s*\}/);
    expect(text).toMatch(/^param healthEventSubscriptionName string = 'vm-health-events'$/m);
    expect(read('infra/eventgrid.bicep')).toMatch(
      /param healthEventSubscriptionName string = 'vm-health-events'/,
    );
  });

  it('assigns the read role once at the group, assignable there, reading the group and every read the app makes', () => {
    const text = mg();
    const actions = bicepStringArray(text, 'vmReaderActions');
    for (const action of actions) expect(action.toLowerCase().endsWith('/read'), action).toBe(true);
    for (const action of [
      ...Object.keys(actionsTheAppReads),
      'Microsoft.Management/managementGroups/descendants/read',
    ])
      expect(covered(actions, action), action).toBe(true);
    for (const action of actionsNeverGranted) expect(covered(actions, action), action).toBe(false);
    // The same reads as in each watched subscription, plus the group listing.
    expect(actions.filter((a) => !a.startsWith('Microsoft.Management/')).sort()).toEqual(
      bicepStringArray(read('infra/app/watched-subscription.bicep'), 'vmReaderActions').sort(),
    );
    expect(bicepStringArray(text, 'vmDeallocatorActions').sort()).toEqual(
      bicepStringArray(read('infra/app/watched-subscription.bicep'), 'vmDeallocatorActions').sort(),
    );
    for (const role of [
      'vmReaderRole',
      'vmDeallocatorRole',
      'eventWiringDeployerRole',
      'healthWiringDeployerRole',
    ])
      expect(bicepResource(text, role)).toMatch(/assignableScopes:\s*\[\s*managementGroup\(\)\.id\b[^\]]*\]/);
    for (const [symbol, role] of [
      ['vmReaderAssignment', 'vmReaderRole.id'],
      ['vmDeallocatorAssignment', 'vmDeallocatorRole.id'],
      ['readerAssignment', 'reader'],
    ] as const)
      expect(bicepResource(text, symbol)).toMatch(
        new RegExp(
          `name:\\s*guid\\(managementGroup\\(\\)\\.id,\\s*identityPrincipalId,\\s*${role.replace('.', '\\.')}\\)`,
        ),
      );
    expect(text).toMatch(/^targetScope = 'managementGroup'$/m);
  });

  it('grants no Contributor, Owner or User Access Administrator anywhere in infra', () => {
    const forbidden = {
      Owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
      Contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
      'User Access Administrator': '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
      'Virtual Machine Contributor': virtualMachineContributor,
    };
    const files = filesUnder('infra', ['.bicep', '.json', '.sh', '.ps1']);
    expect(files).toContain(path.join('infra', 'management-group.bicep'));
    for (const file of files) {
      const text = read(file).toLowerCase();
      for (const [role, id] of Object.entries(forbidden))
        expect(text.includes(id), `${role} in ${file}`).toBe(false);
      // No custom role grants everything.
      expect(/'\*'|'\*\/write'|'microsoft\.authorization\/\*'/.test(text), `wildcard grant in ${file}`).toBe(
        false,
      );
    }
  });

  it('is chosen by WATCH_MANAGEMENT_GROUP, exclusive with WATCHED_SUBSCRIPTION_IDS, and deployed by postdeploy', () => {
    expect(azdEnvironment().get('watchManagementGroup')).toEqual({
      name: 'WATCH_MANAGEMENT_GROUP',
      defaultValue: undefined,
    });
    const main = read('infra/main.bicep');
    expect(main).toMatch(
      /managementGroupMode && !empty\(trim\(watchedSubscriptionIdsCsv\)\)\s*\?\s*int\('WATCH_MANAGEMENT_GROUP and WATCHED_SUBSCRIPTION_IDS are exclusive/,
    );
    expect(main).toMatch(/param watchedSubscriptionIds array = managementGroupMode\s*\?\s*\[\]/);
    for (const script of ['infra/scripts/postdeploy.sh', 'infra/scripts/postdeploy.ps1']) {
      const text = read(script);
      expect(text, script).toMatch(/az deployment mg create/);
      expect(text, script).toMatch(/infra\/management-group\.bicep/);
      // Every parameter management-group.bicep requires is passed.
      for (const name of matchesOf(mg(), /^param\s+(\w+)\s+\w+\s*$/gm))
        expect(text, `${script}: ${name}`).toContain(`${name}=`);
    }
  });
});

describe('tables', () => {
  it('creates every documented table up front, and the README documents each', () => {
    const main = read('infra/main.bicep');
    const list = /var tableNames = \[([\s\S]*?)\]/.exec(main)?.[1] ?? '';
    const inBicep = matchesOf(list, /'(\w+)'/g);
    expect(inBicep.sort()).toEqual(Object.values(tableNames).sort());
    const readme = read('README.md');
    for (const name of Object.values(tableNames))
      expect(readme, `${name} is not in README "Tables"`).toMatch(
        new RegExp(`^(### \`${name}\`|\`${name}\` is described under)`, 'm'),
      );
  });
});
