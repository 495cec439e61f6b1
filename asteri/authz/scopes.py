"""The scopes of the product brief, verbatim. A key carries a subset; a field requires one."""

from enum import StrEnum

__all__ = ["Scope"]


class Scope(StrEnum):
    READ_CUSTOMERS = "read:customers"
    WRITE_CUSTOMERS = "write:customers"
    DELETE_CUSTOMERS = "delete:customers"
    READ_APPOINTMENTS = "read:appointments"
    WRITE_APPOINTMENTS = "write:appointments"
    DELETE_APPOINTMENTS = "delete:appointments"
    READ_INVOICES = "read:invoices"
    WRITE_INVOICES = "write:invoices"
    DELETE_INVOICES = "delete:invoices"
    READ_PAYMENTS = "read:payments"
    WRITE_PAYMENTS = "write:payments"
    DELETE_PAYMENTS = "delete:payments"
    READ_ESTIMATES = "read:estimates"
    WRITE_ESTIMATES = "write:estimates"
    DELETE_ESTIMATES = "delete:estimates"
    READ_TEAM = "read:team"
    WRITE_TEAM = "write:team"
    READ_SERVICES = "read:services"
    WRITE_SERVICES = "write:services"
    DELETE_SERVICES = "delete:services"
    READ_FILES = "read:files"
    WRITE_FILES = "write:files"
    DELETE_FILES = "delete:files"
    MANAGE_WEBHOOKS = "manage:webhooks"
