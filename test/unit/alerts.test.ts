import { describe, expect, it } from 'vitest';
import {
  parseAppInsightsConnectionString,
  metricEnvelope,
} from '../../src/adapters/appinsights-alert-metrics';
import {
  alertEventId,
  episodeUsage,
  exemptionOf,
  isPastGrace,
  matchesPattern,
  parseExpectedStoppedPatterns,
} from '../../src/domain/alerts';
import type { Segment } from '../../src/domain/segments';

const sub = '00000000-0000-0000-0000-0000000000aa';
const vm = `/subscriptions/${sub}/resourceGroups/RG-Lab-1/providers/Microsoft.Compute/virtualMachines/Build-07`;

describe('alert rules', () => {
  it('matches subscription, resource-group, VM and VM-name patterns case-insensitively with * wildcards', () => {
    expect(matchesPattern(vm, `/subscriptions/${sub}`)).toBe(true);
    expect(matchesPattern(vm, `/SUBSCRIPTIONS/${sub}/resourcegroups/rg-lab-*`)).toBe(true);
    expect(matchesPattern(vm, `/subscriptions/${sub}/resourceGroups/rg-lab`)).toBe(false);
    expect(
      matchesPattern(
        vm,
        `/subscriptions/*/resourceGroups/*/providers/Microsoft.Compute/virtualMachines/build-*`,
      ),
    ).toBe(true);
    expect(matchesPattern(vm, 'build-*')).toBe(true);
    expect(matchesPattern(vm, 'build')).toBe(false);
    expect(parseExpectedStoppedPatterns(' a, b;c  d ')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('exempts by the expected-stopped tag in any casing, and only with the value true', () => {
    expect(exemptionOf(vm, { 'EXPECTED-STOPPED': 'True' }, [])).toBe('tag');
    expect(exemptionOf(vm, { 'expected-stopped': 'false' }, [])).toBeUndefined();
    expect(exemptionOf(vm, {}, ['build-07'])).toBe('pattern');
  });

  it('ends the grace period exactly grace minutes after the stop', () => {
    expect(isPastGrace(0, 15 * 60_000 - 1, 15)).toBe(false);
    expect(isPastGrace(0, 15 * 60_000, 15)).toBe(true);
  });

  it('names each alert by VM (any casing), episode start and kind', () => {
    const id = alertEventId(vm, 1_700_000_000_000, 'detected');
    expect(id).toMatch(/^[0-9a-f]{16}:1700000000000:detected$/);
    expect(alertEventId(vm.toLowerCase(), 1_700_000_000_000, 'detected')).toBe(id);
  });

  it('counts only Stopped (allocated) as billed in an episode, a windowed start at its midpoint', () => {
    const segments: Segment[] = [
      { state: 'running', billing: 'billed', start: 0, end: 600_000, source: 'event' },
      {
        state: 'stopped',
        billing: 'billed',
        start: 600_000,
        end: 1_800_000,
        startWindowFrom: 0,
        source: 'reconcile',
      },
      { state: 'running', billing: 'billed', start: 1_800_000, source: 'event' },
    ];
    const usage = episodeUsage(segments, { since: 600_000, sinceWindowFrom: 0 }, 1_800_000, 3_600_000);
    expect(usage).toMatchObject({ billedSeconds: 1500, billedSecondsMin: 1200, billedSecondsMax: 1800 });
  });
});

describe('StoppedAllocatedVms metric', () => {
  it('reads the ingestion endpoint and builds a MetricData envelope for customMetrics', () => {
    const target = parseAppInsightsConnectionString(
      'InstrumentationKey=abcd-ef;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
    );
    expect(target).toEqual({
      instrumentationKey: 'abcd-ef',
      ingestionEndpoint: 'https://westeurope-5.in.applicationinsights.azure.com/',
    });
    expect(metricEnvelope(target!, 'StoppedAllocatedVms', 3, 0, 'app')).toMatchObject({
      name: 'Microsoft.ApplicationInsights.abcdef.Metric',
      data: { baseType: 'MetricData', baseData: { metrics: [{ name: 'StoppedAllocatedVms', value: 3 }] } },
    });
  });
});
