"""A mypy plugin: on a SQLModel table class, a field read from the class is a column, not a value;
and the class has the `__table__` that SQLAlchemy's declarative mapping gives it.

`Opportunity.amount` is declared `Decimal | None` for the instances, but on the class SQLAlchemy's
declarative mapping has replaced it with an `InstrumentedAttribute`: `Opportunity.amount.is_(None)`,
`Opportunity.team_id == team_id` (a SQL expression, not a bool) and `select(Opportunity.id)` are what
the queries in storage/ are made of. SQLModel's own answer is to wrap each such read in `col(...)`;
this types them all as `InstrumentedAttribute[<the field's type>]` instead, so the queries stay as
written and are checked as the SQL expressions they are. Reads from instances are unchanged.

`Delivery.__table__`, the plain `Table` that storage/outbox.py writes through, is set on the class
by the mapping at run time; SQLModel's types do not declare it.

Table classes are those declared `class X(SQLModel, table=True)` (all of storage/models.py).
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import MypyFile, NameExpr, TypeInfo, Var
from mypy.plugin import AttributeContext, ClassDefContext, Plugin
from mypy.plugins.common import add_attribute_to_class
from mypy.types import Instance, Type

SQLMODEL = "sqlmodel.main.SQLModel"
COLUMN_MODULE = "sqlalchemy.orm.attributes"
COLUMN = f"{COLUMN_MODULE}.InstrumentedAttribute"
TABLE_MODULE = "sqlalchemy.sql.schema"
TABLE = f"{TABLE_MODULE}.Table"
# Set on a table class when its definition is analysed. The class keywords themselves are not kept in
# mypy's cache, and the attribute hook also runs on classes loaded from it.
MARK = "oppbot.sqlmodel_table"


def _mark_table(ctx: ClassDefContext) -> None:
    table = ctx.cls.keywords.get("table")
    if not (isinstance(table, NameExpr) and table.fullname == "builtins.True"):
        return
    ctx.cls.info.metadata[MARK] = {}
    table_type = ctx.api.named_type_or_none(TABLE)
    if table_type is None:
        if not ctx.api.final_iteration:
            ctx.api.defer()  # sqlalchemy's schema module not analysed yet: mypy calls again
        return
    if "__table__" not in ctx.cls.info.names:
        add_attribute_to_class(ctx.api, ctx.cls, "__table__", table_type, is_classvar=True)


class SQLModelColumns(Plugin):
    def get_base_class_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        return _mark_table if fullname == SQLMODEL else None

    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        found = self.lookup_fully_qualified(owner)
        if found is None or not isinstance(found.node, TypeInfo) or MARK not in found.node.metadata:
            return None
        field = found.node.names.get(name)
        # fields only: not methods, not ClassVars, not the dunders (__tablename__, __table_args__)
        if field is None or not isinstance(field.node, Var) or field.node.is_classvar or name.startswith("_"):
            return None
        column = self.lookup_fully_qualified(COLUMN)
        if column is None or not isinstance(column.node, TypeInfo):
            return None
        info = column.node

        def as_column(ctx: AttributeContext) -> Type:
            return ctx.default_attr_type if ctx.is_lvalue else Instance(info, [ctx.default_attr_type])

        return as_column

    def get_additional_deps(self, file: MypyFile) -> list[tuple[int, str, int]]:
        # the types the hooks name must be loaded, whatever the file imports
        return [(10, COLUMN_MODULE, -1), (10, TABLE_MODULE, -1)]


def plugin(version: str) -> type[Plugin]:
    return SQLModelColumns
