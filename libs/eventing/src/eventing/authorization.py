"""What a caller may reach, decided from its ``Principal`` in the routes' dependencies.

- a patient reaches only the patient record it is bound to, and that patient's bookings. Another
  patient's record answers 404, the answer for an id that does not exist, so that a patient
  cannot learn which patient ids exist by probing (CONTRACT.md section 4 allows 404 where
  existence must not leak);
- a provider reaches only its own profile and availability; another provider's answers 403
  (provider ids are public: the availability search shows them, so nothing leaks);
- an operator reaches everything: it runs the platform (reads, cancels, registers). The
  ``X-API-KEY`` machine credential is an operator, in development only.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import HTTPException, status

from eventing.identity import Principal, Role


def forbidden(message: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=message)


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role is not Role.OPERATOR and principal.role not in roles:
        raise forbidden(f"the role {principal.role.value} may not do this")


def require_patient(principal: Principal, patient_id: UUID, not_found: Exception) -> None:
    """``not_found`` is what the service raises for an unknown patient, so both answer alike."""
    if principal.role is Role.OPERATOR:
        return
    if principal.role is not Role.PATIENT:
        raise forbidden(f"the role {principal.role.value} may not read patient records")
    if principal.patient_id != str(patient_id):
        raise not_found


def require_provider(principal: Principal, provider_id: UUID) -> None:
    if principal.role is Role.OPERATOR:
        return
    if principal.role is not Role.PROVIDER or principal.provider_id != str(provider_id):
        raise forbidden("only the provider itself or an operator may do this")
