//! A job's SQL for Spark: the one documented translation step. DataFusion explodes a list
//! with `unnest(list) AS x` in a select list; Spark with `LATERAL VIEW explode(list) e AS x`
//! after the FROM. Anything else that only DataFusion has (the JSON functions and operators)
//! is refused, naming the construct, never changed silently. Pure.

use std::ops::ControlFlow;

use chrono::NaiveDate;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, LateralView,
    ObjectName, Query, Select, SelectItem, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// A job's statement for one day: the input tables partitioned by `event_date` are read
/// through temporary views of that day, as `run` shows the job only its day.
pub fn day_statements(
    job: &str,
    sql: &str,
    day: NaiveDate,
    day_tables: &[String],
) -> anyhow::Result<String> {
    let mut statement = translate(job, sql)?;
    let suffix = day.format("%Y_%m_%d").to_string();
    let mut views = Vec::new();
    let _ = datafusion::sql::sqlparser::ast::visit_relations_mut(&mut statement, |name| {
        let table = name.to_string();
        if day_tables.contains(&table) {
            let view = format!("{table}__{suffix}");
            if !views.contains(&(table.clone(), view.clone())) {
                views.push((table, view.clone()));
            }
            *name = ObjectName::from(vec![Ident::new(view)]);
        }
        ControlFlow::<()>::Continue(())
    });
    let mut script = String::new();
    for (table, view) in &views {
        script.push_str(&format!(
            "CREATE OR REPLACE TEMPORARY VIEW `{view}` AS SELECT * FROM `{table}` WHERE `event_date` = DATE '{day}';\n"
        ));
    }
    script.push_str(&format!(
        "INSERT OVERWRITE TABLE `{job}` PARTITION (`event_date` = '{day}')\n{statement};\n"
    ));
    Ok(script)
}

/// The job's query with its list explosions in Spark's form; an error names what cannot be.
pub fn translate(job: &str, sql: &str) -> anyhow::Result<Statement> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| anyhow::anyhow!("job {job}: SQL syntax error: {e}"))?;
    let (1, Some(Statement::Query(_))) = (statements.len(), statements.first()) else {
        anyhow::bail!("job {job}: a job is exactly one query");
    };
    let mut statement = statements.remove(0);
    if let Statement::Query(query) = &mut statement {
        explode_in_query(job, query)?;
    }
    refuse_datafusion_only(job, &statement)?;
    Ok(statement)
}

fn explode_in_query(job: &str, query: &mut Query) -> anyhow::Result<()> {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            explode_in_query(job, &mut cte.query)?;
        }
    }
    explode_in_set(job, &mut query.body)
}

fn explode_in_set(job: &str, set: &mut SetExpr) -> anyhow::Result<()> {
    match set {
        SetExpr::Select(select) => explode_in_select(job, select),
        SetExpr::Query(query) => explode_in_query(job, query),
        SetExpr::SetOperation { left, right, .. } => {
            explode_in_set(job, left)?;
            explode_in_set(job, right)
        }
        _ => Ok(()),
    }
}

fn explode_in_select(job: &str, select: &mut Select) -> anyhow::Result<()> {
    for from in &mut select.from {
        if let TableFactor::Derived { subquery, .. } = &mut from.relation {
            explode_in_query(job, subquery)?;
        }
        for join in &mut from.joins {
            if let TableFactor::Derived { subquery, .. } = &mut join.relation {
                explode_in_query(job, subquery)?;
            }
        }
    }
    for item in &mut select.projection {
        let SelectItem::ExprWithAlias { expr, alias } = item else {
            continue;
        };
        let Some(list) = unnest_argument(expr) else {
            continue;
        };
        let alias = alias.clone();
        if select.from.len() != 1 || !select.from[0].joins.is_empty() {
            anyhow::bail!(
                "job {job}: unnest() over a join or several FROM tables has no Spark translation here; explode in a CTE over one table"
            );
        }
        select.lateral_views.push(LateralView {
            lateral_view: Expr::Function(explode_call(list)),
            lateral_view_name: ObjectName::from(vec![Ident::new(format!(
                "exploded_{}",
                select.lateral_views.len()
            ))]),
            lateral_col_alias: vec![alias.clone()],
            outer: false,
        });
        *item = SelectItem::UnnamedExpr(Expr::Identifier(alias));
    }
    Ok(())
}

/// `x` for `unnest(x)`.
fn unnest_argument(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else {
        return None;
    };
    if !function.name.to_string().eq_ignore_ascii_case("unnest") {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => Some(arg.clone()),
        _ => None,
    }
}

fn explode_call(list: Expr) -> datafusion::sql::sqlparser::ast::Function {
    let mut call = match Parser::new(&GenericDialect {})
        .try_with_sql("explode(x)")
        .and_then(|mut p| p.parse_expr())
    {
        Ok(Expr::Function(call)) => call,
        _ => unreachable!("explode(x) parses as a call"),
    };
    if let FunctionArguments::List(args) = &mut call.args {
        args.args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(list))];
    }
    call
}

/// Refuses what is left that only DataFusion runs.
fn refuse_datafusion_only(job: &str, statement: &Statement) -> anyhow::Result<()> {
    let mut refusals = Refusals(None);
    let _ = statement.visit(&mut refusals);
    match refusals.0 {
        Some(construct) => anyhow::bail!(
            "job {job} uses {construct}, which export-jobs does not translate to Spark SQL: keep a Spark copy of this job, or leave it to `stickerlake run`"
        ),
        None => Ok(()),
    }
}

/// The first construct found that has no Spark translation.
struct Refusals(Option<String>);

impl Visitor for Refusals {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        let construct = match expr {
            Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                if name == "unnest" {
                    Some("unnest() outside a select list's `unnest(list) AS name`".to_string())
                } else if name.starts_with("json_") {
                    Some(format!(
                        "{name}() (datafusion-functions-json; Spark has get_json_object and from_json)"
                    ))
                } else if name == "arrow_typeof" || name == "arrow_cast" {
                    Some(format!("{name}() (DataFusion only)"))
                } else {
                    None
                }
            }
            Expr::BinaryOp { op, .. }
                if matches!(op, BinaryOperator::Arrow | BinaryOperator::LongArrow) =>
            {
                Some(format!(
                    "the JSON operator {op} (Spark has get_json_object)"
                ))
            }
            _ => None,
        };
        self.found(construct)
    }

    fn pre_visit_table_factor(&mut self, table: &TableFactor) -> ControlFlow<()> {
        let construct = matches!(table, TableFactor::UNNEST { .. })
            .then(|| "unnest() in a FROM clause".to_string());
        self.found(construct)
    }
}

impl Refusals {
    fn found(&mut self, construct: Option<String>) -> ControlFlow<()> {
        match construct {
            Some(construct) => {
                self.0 = Some(construct);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnest_in_a_select_list_becomes_a_lateral_view() {
        let sql = "WITH r AS (SELECT message_id, unnest(sticker_ids) AS sticker_id FROM raw_events WHERE type = 'report') SELECT sticker_id, COUNT(*) AS n FROM r GROUP BY sticker_id";
        let out = translate("j", sql).unwrap().to_string();
        assert!(
            out.contains("SELECT message_id, sticker_id FROM raw_events LATERAL VIEW explode(sticker_ids) exploded_0 AS sticker_id WHERE type = 'report'"),
            "{out}"
        );
        assert!(!out.to_lowercase().contains("unnest"));
    }

    #[test]
    fn day_tables_are_read_through_views_of_the_day() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let script = day_statements(
            "search_term_daily",
            "SELECT term, COUNT(DISTINCT message_id) AS searches FROM raw_events GROUP BY term",
            day,
            &["raw_events".to_string()],
        )
        .unwrap();
        assert_eq!(
            script,
            "CREATE OR REPLACE TEMPORARY VIEW `raw_events__2026_11_20` AS SELECT * FROM `raw_events` WHERE `event_date` = DATE '2026-11-20';\n\
             INSERT OVERWRITE TABLE `search_term_daily` PARTITION (`event_date` = '2026-11-20')\n\
             SELECT term, COUNT(DISTINCT message_id) AS searches FROM raw_events__2026_11_20 GROUP BY term;\n"
        );
    }

    #[test]
    fn datafusion_only_constructs_are_refused_by_name() {
        let err = translate(
            "spend",
            "SELECT json_get_int(properties, 'a') AS a FROM raw_events",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("job spend uses json_get_int()"), "{err}");
        let err = translate("x", "SELECT properties->>'a' AS a FROM raw_events")
            .unwrap_err()
            .to_string();
        assert!(err.contains("the JSON operator ->>"), "{err}");
        let err = translate("x", "SELECT * FROM unnest(make_array(1, 2))")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unnest()"), "{err}");
        assert!(translate("x", "DROP TABLE raw_events").is_err());
    }
}
