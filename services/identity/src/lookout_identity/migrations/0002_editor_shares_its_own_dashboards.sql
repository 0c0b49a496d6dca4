-- The built-in editor shares only its own dashboards (builtin_roles.py). Its dashboard:share had no
-- condition, and a dashboard's share level includes edit: every editor could update, publish and
-- restore every dashboard of its tenant, though its dashboard:update is owner_only. Existing
-- tenants' editor roles get the condition; their tokens issued before now are refused by identity
-- (permissions_changed_at) and expire elsewhere within the access-token lifetime.

UPDATE roles r SET permissions_changed_at = NOW()
WHERE r.is_builtin AND r.name = 'editor'
  AND EXISTS (
      SELECT 1 FROM permissions p
      WHERE p.tenant_id = r.tenant_id AND p.role_id = r.id
        AND p.resource = 'dashboard' AND p.action = 'share' AND p.conditions IS NULL
  );

UPDATE permissions p SET conditions = '{"owner_only": true}'::jsonb
FROM roles r
WHERE p.tenant_id = r.tenant_id AND p.role_id = r.id
  AND r.is_builtin AND r.name = 'editor'
  AND p.resource = 'dashboard' AND p.action = 'share' AND p.conditions IS NULL;
