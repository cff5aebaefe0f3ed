//! A notes API that embeds latchkey: the smallest complete example of an
//! axum app protecting its own routes with it.
//!
//! - latchkey's routes live under `/id` (`/id/auth/login`, the sign-in page
//!   at `/id/`), next to the app's own.
//! - `/notes` takes [`AuthUser`]: browsers send the session cookie (and
//!   `X-CSRF-Token` on `POST`/`DELETE`, which latchkey checks), apps a
//!   bearer token; a revoked session is refused at once, and an expired
//!   `auto-refresh` token is renewed on the way.
//! - `/` takes `Option<AuthUser>`: anyone may call it.
//!
//! The notes themselves are kept in memory, to keep the example about
//! authentication; a real app keeps them in its database, keyed by
//! [`UserId`] like here.
#![forbid(unsafe_code)]

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get},
};
use latchkey::{AuthUser, Latchkey, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One note.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    /// Its id, for `DELETE /notes/{id}`.
    pub id: Uuid,
    /// What the user wrote.
    pub text: String,
}

/// `POST /notes`.
#[derive(Debug, Deserialize)]
pub struct NewNote {
    /// What to write; 1 to 1000 characters.
    pub text: String,
}

/// Every user's notes.
#[derive(Clone, Default)]
pub struct Notes(Arc<RwLock<HashMap<UserId, Vec<Note>>>>);

/// The app: its routes behind latchkey's layer, and latchkey's own.
pub fn app(latchkey: &Latchkey) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", delete(remove))
        .with_state(Notes::default())
        .layer(latchkey.layer())
        .merge(latchkey.routes())
}

#[derive(Serialize)]
struct Home {
    signed_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
}

/// Open to everyone; says who is signed in, if anyone.
async fn home(user: Option<AuthUser>) -> Json<Home> {
    Json(Home {
        signed_in: user.is_some(),
        username: user.map(|u| u.username.to_string()),
    })
}

async fn list(user: AuthUser, State(notes): State<Notes>) -> Json<Vec<Note>> {
    let all = notes.0.read().unwrap_or_else(PoisonError::into_inner);
    Json(all.get(&user.user_id).cloned().unwrap_or_default())
}

async fn create(
    user: AuthUser,
    State(notes): State<Notes>,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), StatusCode> {
    let length = new.text.chars().count();
    if length == 0 || length > 1000 {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let note = Note {
        id: Uuid::new_v4(),
        text: new.text,
    };
    notes
        .0
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(user.user_id)
        .or_default()
        .push(note.clone());
    Ok((StatusCode::CREATED, Json(note)))
}

/// Another user's note is as absent as a note that never was.
async fn remove(user: AuthUser, State(notes): State<Notes>, Path(id): Path<Uuid>) -> StatusCode {
    let mut all = notes.0.write().unwrap_or_else(PoisonError::into_inner);
    let mine = all.entry(user.user_id).or_default();
    let before = mine.len();
    mine.retain(|n| n.id != id);
    if mine.len() < before {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}
