/**
 * Readiness beyond "Redis answers": a role reports what keeps it from doing its work (a
 * dependency it is waiting for, a shop record it cannot read), and `/readyz` answers 503 with
 * those lines until they clear. One line per problem, written for operators, never a secret.
 */
export interface ReadinessReport {
  ready: boolean;
  problems: string[];
}

export type ReadinessCheck = () => ReadinessReport;
