//! The in-class quiz: the lead asks a multiple-choice question, people in the lesson answer
//! once, the teachers watch the tally grow, and the results stay with the lesson.

use lianxiao_protocol::{
    MAX_QUIZ_OPTIONS, MAX_QUIZ_TEXT_CHARS, MIN_QUIZ_OPTIONS, OpenQuiz, Quiz, QuizResponse,
    RoomEvent,
};
use sqlx::{AnyConnection, Row};

use super::{Notices, learns, moderates, require, runs};
use crate::{
    db::{Tx, new_id, now_ms},
    error::{ApiError, ApiResult, is_unique_violation},
    lessons::access::{self, Standing},
};

/// What a viewer may see of a quiz.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sight {
    /// Tally, answers and the correct option, at all times.
    Teacher,
    /// Their own answer; the tally and the correct option once closed.
    Learner,
    /// Closed quizzes' counts and correct option: what everyone may see afterwards.
    Public,
}

fn sight(s: &Standing) -> Sight {
    if moderates(s) || s.scheduler {
        Sight::Teacher
    } else {
        Sight::Learner
    }
}

/// A quiz row and its answers, as `viewer` may see them.
async fn load(
    conn: &mut AnyConnection,
    r: sqlx::any::AnyRow,
    viewer: &str,
    sight: Sight,
) -> ApiResult<Quiz> {
    let id: String = r.try_get("id")?;
    let options: Vec<String> =
        serde_json::from_str(&r.try_get::<String, _>("options")?).unwrap_or_default();
    let closed_at: Option<i64> = r.try_get("closed_at")?;
    let correct: Option<i64> = r.try_get("correct")?;
    let answers = sqlx::query(
        "SELECT user_id, option_index, answered_at FROM classroom_answers WHERE quiz_id = $1 \
         ORDER BY answered_at, user_id",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|a| {
        Ok(QuizResponse {
            user_id: a.try_get(0)?,
            option: a.try_get::<i64, _>(1)? as u32,
            answered_at: a.try_get(2)?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    let shows_results = sight == Sight::Teacher || closed_at.is_some();
    let counts = if shows_results {
        counts_of(options.len(), &answers)
    } else {
        Vec::new()
    };
    let my_answer = answers
        .iter()
        .find(|a| a.user_id == viewer)
        .map(|a| a.option);
    Ok(Quiz {
        id,
        lesson_id: r.try_get("lesson_id")?,
        question: r.try_get("question")?,
        options,
        correct: correct.filter(|_| shows_results).map(|c| c as u32),
        opened_at: r.try_get("opened_at")?,
        closed_at,
        counts,
        responses: if sight == Sight::Teacher {
            answers
        } else {
            Vec::new()
        },
        my_answer: my_answer.filter(|_| sight != Sight::Public),
    })
}

fn counts_of(options: usize, answers: &[QuizResponse]) -> Vec<u32> {
    let mut counts = vec![0u32; options];
    for a in answers {
        if let Some(c) = counts.get_mut(a.option as usize) {
            *c += 1;
        }
    }
    counts
}

const COLUMNS: &str = "id, lesson_id, question, options, correct, opened_at, closed_at";

async fn row(
    conn: &mut AnyConnection,
    lesson_id: &str,
    quiz_id: &str,
) -> ApiResult<sqlx::any::AnyRow> {
    let sql = format!("SELECT {COLUMNS} FROM classroom_quizzes WHERE id = $1 AND lesson_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(quiz_id)
        .bind(lesson_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| ApiError::not_found("quiz"))
}

/// The lesson's open quiz, for the room's state.
pub(super) async fn open_quiz(
    conn: &mut AnyConnection,
    lesson_id: &str,
    viewer: &str,
    standing: &Standing,
) -> ApiResult<Option<Quiz>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM classroom_quizzes WHERE lesson_id = $1 AND closed_at IS NULL \
         ORDER BY opened_at DESC LIMIT 1"
    );
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lesson_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(load(conn, r, viewer, sight(standing)).await?))
}

/// `POST /v1/lessons/{id}/quizzes`: the lead asks; one quiz is open at a time.
pub async fn open(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    req: &OpenQuiz,
    early_secs: u64,
) -> ApiResult<(Quiz, Notices)> {
    let question = req.question.trim();
    if question.is_empty() || question.chars().count() > MAX_QUIZ_TEXT_CHARS {
        return Err(ApiError::validation(
            "question",
            format!("a question has 1 to {MAX_QUIZ_TEXT_CHARS} characters"),
        ));
    }
    if !(MIN_QUIZ_OPTIONS..=MAX_QUIZ_OPTIONS).contains(&req.options.len()) {
        return Err(ApiError::validation(
            "options",
            format!("a quiz has {MIN_QUIZ_OPTIONS} to {MAX_QUIZ_OPTIONS} options"),
        ));
    }
    let options: Vec<String> = req.options.iter().map(|o| o.trim().to_owned()).collect();
    if options
        .iter()
        .any(|o| o.is_empty() || o.chars().count() > MAX_QUIZ_TEXT_CHARS)
    {
        return Err(ApiError::validation(
            "options",
            format!("each option has 1 to {MAX_QUIZ_TEXT_CHARS} characters"),
        ));
    }
    if req.correct.is_some_and(|c| c as usize >= options.len()) {
        return Err(ApiError::validation("correct", "not one of the options"));
    }
    let (lesson, standing) = super::open_lesson(tx, user_id, lesson_id, early_secs).await?;
    require(runs(&standing), "only the lead teacher asks a quiz")?;
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM classroom_quizzes WHERE lesson_id = $1 AND closed_at IS NULL",
    )
    .bind(&lesson.id)
    .fetch_one(&mut **tx)
    .await?;
    if open > 0 {
        return Err(ApiError::conflict(
            "a quiz is already open in this lesson; close it first",
        ));
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO classroom_quizzes (id, lesson_id, question, options, correct, opened_by, opened_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&lesson.id)
    .bind(question)
    .bind(serde_json::to_string(&options).map_err(anyhow::Error::from)?)
    .bind(req.correct.map(i64::from))
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    let r = row(tx, &lesson.id, &id).await?;
    let quiz = load(tx, r, user_id, Sight::Teacher).await?;
    let r = row(tx, &lesson.id, &id).await?;
    let public = load(tx, r, "", Sight::Learner).await?;
    let mut notices = Notices::default();
    notices.everyone(&lesson.id, RoomEvent::QuizOpened { quiz: public });
    Ok((quiz, notices))
}

/// `POST /v1/lessons/{id}/quizzes/{quiz}/answer`: once per person; the quiz as they see it.
pub async fn answer(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    quiz_id: &str,
    option: u32,
    early_secs: u64,
) -> ApiResult<Quiz> {
    let (lesson, standing) = super::open_lesson(tx, user_id, lesson_id, early_secs).await?;
    require(
        learns(&standing),
        "only the lesson's students and assistants answer",
    )?;
    let r = row(tx, &lesson.id, quiz_id).await?;
    if r.try_get::<Option<i64>, _>("closed_at")?.is_some() {
        return Err(ApiError::conflict("the quiz is closed"));
    }
    let options: Vec<String> =
        serde_json::from_str(&r.try_get::<String, _>("options")?).unwrap_or_default();
    if option as usize >= options.len() {
        return Err(ApiError::validation(
            "option",
            "not one of the quiz's options",
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO classroom_answers (quiz_id, user_id, option_index, answered_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(quiz_id)
    .bind(user_id)
    .bind(i64::from(option))
    .bind(now_ms())
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::conflict("you already answered this quiz"));
        }
        Err(e) => return Err(e.into()),
    }
    let r = row(tx, &lesson.id, quiz_id).await?;
    load(tx, r, user_id, sight(&standing)).await
}

/// `POST /v1/lessons/{id}/quizzes/{quiz}/close`: the results go to everyone.
pub async fn close(
    tx: &mut Tx,
    user_id: &str,
    lesson_id: &str,
    quiz_id: &str,
) -> ApiResult<(Quiz, Notices)> {
    let (lesson, standing) = access::visible_lesson(tx, user_id, lesson_id).await?;
    require(runs(&standing), "only the lead teacher closes a quiz")?;
    let closed = sqlx::query(
        "UPDATE classroom_quizzes SET closed_at = $1 WHERE id = $2 AND lesson_id = $3 AND closed_at IS NULL",
    )
    .bind(now_ms())
    .bind(quiz_id)
    .bind(&lesson.id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let r = row(tx, &lesson.id, quiz_id).await?;
    let quiz = load(tx, r, user_id, Sight::Teacher).await?;
    let mut notices = Notices::default();
    if closed > 0 {
        let r = row(tx, &lesson.id, quiz_id).await?;
        let public = load(tx, r, "", Sight::Public).await?;
        notices.everyone(&lesson.id, RoomEvent::QuizClosed { quiz: public });
    }
    Ok((quiz, notices))
}

/// `GET /v1/lessons/{id}/quizzes`: every quiz of the lesson, oldest first, as the caller may
/// see it (teachers: every answer; others: their own, and counts once closed).
pub async fn list(
    conn: &mut AnyConnection,
    user_id: &str,
    lesson_id: &str,
) -> ApiResult<Vec<Quiz>> {
    let (lesson, standing) = access::visible_lesson(conn, user_id, lesson_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM classroom_quizzes WHERE lesson_id = $1 ORDER BY opened_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&lesson.id)
        .fetch_all(&mut *conn)
        .await?;
    let mut quizzes = Vec::with_capacity(rows.len());
    for r in rows {
        quizzes.push(load(conn, r, user_id, sight(&standing)).await?);
    }
    Ok(quizzes)
}

/// The live tally of a quiz, for the teachers' room event.
pub(super) async fn tally(
    conn: &mut AnyConnection,
    quiz_id: &str,
) -> ApiResult<Option<(String, Vec<u32>)>> {
    let Some(r) = sqlx::query("SELECT lesson_id, options FROM classroom_quizzes WHERE id = $1")
        .bind(quiz_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let lesson_id: String = r.try_get(0)?;
    let options: Vec<String> =
        serde_json::from_str(&r.try_get::<String, _>(1)?).unwrap_or_default();
    let answers: Vec<i64> =
        sqlx::query_scalar("SELECT option_index FROM classroom_answers WHERE quiz_id = $1")
            .bind(quiz_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut counts = vec![0u32; options.len()];
    for a in answers {
        if let Some(c) = counts.get_mut(a as usize) {
            *c += 1;
        }
    }
    Ok(Some((lesson_id, counts)))
}
