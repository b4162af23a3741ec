//! Copying a SQLite deployment into PostgreSQL (`keyport migrate --from-sqlite DIR --database-url postgres://…`).
//!
//! Table by table, column by column, converting by the PostgreSQL column type (SQLite keeps booleans as
//! integers). One transaction: the target is either fully copied or untouched. Refuses a non-empty target.

use sqlx::{Column, Connection, Row, TypeInfo, ValueRef};

use super::{PgSettings, PgStore, Result, SqliteStore, StoreError, db_err};

/// Rows copied per table.
pub type CopyReport = Vec<(String, u64)>;

enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
}

pub async fn sqlite_to_postgres(
    data_dir: &std::path::Path,
    target: &PgSettings,
) -> Result<CopyReport> {
    let source = SqliteStore::open(data_dir).await?;
    let target_store = PgStore::connect(target).await?;
    let mut src = source.pool().acquire().await.map_err(db_err)?;
    let mut dst = target_store.pool().acquire().await.map_err(db_err)?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx%' ORDER BY rowid",
    )
    .fetch_all(&mut *src)
    .await
    .map_err(db_err)?;
    let mut tx = dst.begin().await.map_err(db_err)?;
    let mut report = Vec::new();
    for table in tables {
        let present: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if present > 0 {
            return Err(StoreError::Conflict(format!(
                "table {table} of the target database is not empty; copy into a fresh database"
            )));
        }
        let pg_types: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&table)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        // On SQLite a used refresh token outlives its deleted session until it expires (migrations/sqlite/0015_…);
        // PostgreSQL's foreign key would refuse it, and it can refresh nothing anyway.
        let select = match table.as_str() {
            "refresh_tokens" => {
                "SELECT * FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions)"
                    .to_owned()
            }
            _ => format!("SELECT * FROM {table}"),
        };
        let rows = sqlx::query(&select)
            .fetch_all(&mut *src)
            .await
            .map_err(db_err)?;
        for row in &rows {
            let mut names = Vec::new();
            let mut values = Vec::new();
            for (i, column) in row.columns().iter().enumerate() {
                let name = column.name().to_owned();
                let pg_type = pg_types
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| t.as_str())
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "column {table}.{name} is missing in PostgreSQL"
                        ))
                    })?;
                let raw = row.try_get_raw(i).map_err(db_err)?;
                let value = if raw.is_null() {
                    Value::Null
                } else if pg_type == "boolean" {
                    Value::Bool(row.try_get::<i64, _>(i).map_err(db_err)? != 0)
                } else if raw.type_info().name() == "INTEGER" || pg_type == "bigint" {
                    Value::Int(row.try_get::<i64, _>(i).map_err(db_err)?)
                } else {
                    Value::Text(row.try_get::<String, _>(i).map_err(db_err)?)
                };
                names.push(name);
                values.push((value, pg_type.to_owned()));
            }
            let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (value, pg_type) in values {
                query = match value {
                    Value::Int(v) => query.bind(v),
                    Value::Bool(v) => query.bind(v),
                    Value::Text(v) => query.bind(v),
                    Value::Null if pg_type == "boolean" => query.bind(None::<bool>),
                    Value::Null if pg_type == "bigint" || pg_type == "integer" => {
                        query.bind(None::<i64>)
                    }
                    Value::Null => query.bind(None::<String>),
                };
            }
            query.execute(&mut *tx).await.map_err(db_err)?;
        }
        report.push((table, rows.len() as u64));
    }
    // Serial columns (the audit log's id) were copied with their values: move their sequences past them, or the
    // next insert would collide with a copied row.
    let serials: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    for (table, column) in serials {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        ))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(report)
}
