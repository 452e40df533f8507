import type { Dispatcher } from "undici";
import {
  ClaimAnswer,
  HeartbeatAnswer,
  LeaseAnswer,
  AnyAnswer,
  type HeartbeatRequest,
  type ReportRequest,
} from "../../src/contract/fleet.ts";
import { createHttpClient, type HttpClient, type HttpOutcome } from "../shared/http.ts";
import type { FleetSettings } from "./settings.ts";

/**
 * The coordinator's calls (docs/design.md, "The fleet plugin"), each answered as a typed outcome. This module pulls in
 * ky and undici: it is imported only when the fleet plugin first talks to the coordinator.
 */
export class FleetClient {
  private readonly http: HttpClient;
  private readonly settings: FleetSettings;

  constructor(settings: FleetSettings, dispatcher?: Dispatcher) {
    this.settings = settings;
    this.http = createHttpClient({
      baseUrl: settings.api,
      token: settings.token,
      productId: settings.productId,
      timeoutMs: settings.timeoutMs,
      retries: 2,
      dispatcher,
      service: "coordinator",
    });
  }

  heartbeat(body: Omit<HeartbeatRequest, "factoryId">) {
    return this.http.request("POST", "fleet/factories/heartbeat", {
      json: { factoryId: this.settings.factoryId, ...body },
      schema: HeartbeatAnswer,
    });
  }

  claim(capabilities: readonly string[]) {
    return this.http.request("POST", "fleet/claim", {
      json: { factoryId: this.settings.factoryId, capabilities },
      schema: ClaimAnswer,
    });
  }

  report(jobId: string, body: ReportRequest): Promise<HttpOutcome<unknown>> {
    return this.http.request("PATCH", `fleet/jobs/${encodeURIComponent(jobId)}`, { json: body, schema: AnyAnswer });
  }

  renew(jobId: string, leaseEpoch: number) {
    return this.http.request("POST", `fleet/jobs/${encodeURIComponent(jobId)}/lease/renew`, {
      json: { leaseEpoch },
      schema: LeaseAnswer,
    });
  }

  /** A read that changes nothing, for `aq dashboard`'s reachability probe (the dev coordinator lists its factories). */
  probe(): Promise<HttpOutcome<unknown>> {
    return this.http.request("GET", "fleet/factories", { schema: AnyAnswer });
  }

  release(jobId: string, leaseEpoch: number): Promise<HttpOutcome<unknown>> {
    return this.http.request("POST", `fleet/jobs/${encodeURIComponent(jobId)}/lease/release`, {
      json: { leaseEpoch },
      schema: AnyAnswer,
    });
  }
}
