//! Fixtures built through the public API, as a user would: registered users, groups,
//! classes, tools, roles and service accounts, and the school of the notification, dashboard
//! and assessment tests.

use serde_json::Value;

use crate::app::TestApp;

impl TestApp {
    /// Creates a group and returns its JSON.
    pub async fn create_group(&self, name: &str, parent: Option<&str>) -> Value {
        let response = self
            .post_json(
                "/groups",
                &serde_json::json!({"name": name, "parent_id": parent}),
            )
            .await;
        assert_eq!(response.status(), 201, "create group {name}");
        response.json().await.expect("group json")
    }

    /// Creates a class in `group` and returns its JSON.
    pub async fn create_class(&self, group: &str, name: &str) -> Value {
        let response = self
            .post_json(
                &format!("/groups/{group}/classes"),
                &serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(response.status(), 201, "create class {name}");
        response.json().await.expect("class json")
    }

    /// Creates a tool of `group` and returns its JSON.
    pub async fn create_tool(&self, group: &str, name: &str) -> Value {
        let response = self
            .post_json(
                &format!("/groups/{group}/tools"),
                &serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(response.status(), 201, "create tool");
        response.json().await.expect("tool json")
    }

    /// Gives the member at `path` (`/groups/{id}/members/{user}` or
    /// `/classes/{id}/members/{user}`) the role `role`.
    pub async fn put_role(&self, path: &str, role: &str) {
        let response = self
            .request(reqwest::Method::PUT, path)
            .json(&serde_json::json!({"role": role}))
            .send()
            .await
            .expect("PUT member");
        assert_eq!(response.status(), 200, "PUT {path} as {role}");
    }

    /// Creates a service account on `group` and returns its JSON (which holds its secret).
    pub async fn create_service_account(&self, name: &str, group: &str) -> Value {
        let response = self
            .post_json(
                "/service-accounts",
                &serde_json::json!({"name": name, "group_ids": [group]}),
            )
            .await;
        assert_eq!(response.status(), 201, "create service account {name}");
        response.json().await.expect("service account json")
    }
}

/// The `id` of a created resource's JSON.
pub fn json_id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// Registers a user (named "Test User") through the API; returns (token, user json).
pub async fn register(app: &TestApp, email: &str, password: &str) -> (String, Value) {
    register_named(app, email, "Test User", password).await
}

/// Registers a user with a display name through the API; returns (token, user json).
pub async fn register_named(
    app: &TestApp,
    email: &str,
    name: &str,
    password: &str,
) -> (String, Value) {
    let response = app
        .http
        .post(app.url("/auth/register"))
        .json(&serde_json::json!({"email": email, "name": name, "password": password}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201, "register {email}");
    let body: Value = response.json().await.expect("json");
    (
        body["token"].as_str().expect("token").to_owned(),
        body["user"].clone(),
    )
}

/// Someone in a [`SchoolFixture`].
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub token: String,
    pub email: String,
    pub name: String,
}

/// A district with a school and a sibling school; in the school the class "Algebra 1" (two
/// teachers, one student with a started learning session) and the class "Biology" (another
/// teacher); a counselor on the district, an admin and a plain member on the school, an admin
/// on the sibling; a tool of the district; service accounts on the school and on the sibling.
pub struct SchoolFixture {
    pub district: String,
    pub school: String,
    pub sibling: String,
    pub class: String,
    pub class_name: String,
    pub other_class: String,
    pub teachers: Vec<Person>,
    pub student: Person,
    pub other_teacher: Person,
    pub counselor: Person,
    pub school_admin: Person,
    pub member: Person,
    pub sibling_admin: Person,
    pub tool: String,
    /// The secret of the service account on the school.
    pub service: String,
    /// The secret of the service account on the sibling school.
    pub foreign_service: String,
    /// The student's active learning session in the class.
    pub session: String,
}

/// The password of every [`Person`] of a [`SchoolFixture`].
pub const FIXTURE_PASSWORD: &str = "fixture password 1";

impl SchoolFixture {
    pub async fn build(app: &TestApp) -> Self {
        let district = json_id(&app.create_group("Northwind District", None).await);
        let school = json_id(&app.create_group("Hill School", Some(&district)).await);
        let sibling = json_id(&app.create_group("Vale School", Some(&district)).await);
        let class_name = "Algebra 1".to_owned();
        let class = json_id(&app.create_class(&school, &class_name).await);
        let other_class = json_id(&app.create_class(&school, "Biology").await);
        let tool = json_id(&app.create_tool(&district, "Socratic tutor").await);

        let teacher_a = Self::person(app, "tess.teacher", "Tess Teacher").await;
        let teacher_b = Self::person(app, "theo.teacher", "Theo Teacher").await;
        let student = Self::person(app, "sam.student", "Sam Student").await;
        let other_teacher = Self::person(app, "olga.other", "Olga Other").await;
        let counselor = Self::person(app, "cora.counselor", "Cora Counselor").await;
        let school_admin = Self::person(app, "ada.admin", "Ada Admin").await;
        let member = Self::person(app, "mel.member", "Mel Member").await;
        let sibling_admin = Self::person(app, "sid.sibling", "Sid Sibling").await;
        for (person, role) in [
            (&teacher_a, "teacher"),
            (&teacher_b, "teacher"),
            (&student, "student"),
        ] {
            app.put_role(&format!("/classes/{class}/members/{}", person.id), role)
                .await;
        }
        app.put_role(
            &format!("/classes/{other_class}/members/{}", other_teacher.id),
            "teacher",
        )
        .await;
        for (group, person, role) in [
            (&district, &counselor, "counselor"),
            (&school, &school_admin, "admin"),
            (&school, &member, "member"),
            (&sibling, &sibling_admin, "admin"),
        ] {
            app.put_role(&format!("/groups/{group}/members/{}", person.id), role)
                .await;
        }

        let service = Self::service_account(app, "Tutoring service", &school).await;
        let foreign_service = Self::service_account(app, "Vale tutoring", &sibling).await;
        let mut fixture = Self {
            district,
            school,
            sibling,
            class,
            class_name,
            other_class,
            teachers: vec![teacher_a, teacher_b],
            student,
            other_teacher,
            counselor,
            school_admin,
            member,
            sibling_admin,
            tool,
            service,
            foreign_service,
            session: String::new(),
        };
        let session = fixture.start_session(app, &fixture.student).await;
        fixture.session = session;
        fixture
    }

    /// Registers `local@school.example` (with the fixture's password), in no role yet.
    pub async fn person(app: &TestApp, local: &str, name: &str) -> Person {
        let email = format!("{local}@school.example");
        let (token, user) = register_named(app, &email, name, FIXTURE_PASSWORD).await;
        Person {
            id: json_id(&user),
            token,
            email,
            name: name.to_owned(),
        }
    }

    /// The secret of a new service account on `group`.
    async fn service_account(app: &TestApp, name: &str, group: &str) -> String {
        let body = app.create_service_account(name, group).await;
        body["secret"].as_str().expect("secret").to_owned()
    }

    /// Registers one more student of the class.
    pub async fn add_student(&self, app: &TestApp, local: &str, name: &str) -> Person {
        let student = Self::person(app, local, name).await;
        app.put_role(
            &format!("/classes/{}/members/{}", self.class, student.id),
            "student",
        )
        .await;
        student
    }

    /// `student` starts a learning session in the class with the fixture's tool.
    pub async fn start_session(&self, app: &TestApp, student: &Person) -> String {
        let response = app
            .call_as(
                &student.token,
                reqwest::Method::POST,
                "/learning-sessions",
                Some(serde_json::json!({"class_id": self.class, "tool_id": self.tool})),
            )
            .await;
        assert_eq!(response.status(), 201, "start a learning session");
        json_id(&response.json().await.expect("session json"))
    }

    /// Every person of the fixture, with a label for assertion messages.
    pub fn everyone(&self) -> Vec<(&'static str, &Person)> {
        vec![
            ("teacher A", &self.teachers[0]),
            ("teacher B", &self.teachers[1]),
            ("student", &self.student),
            ("teacher of another class", &self.other_teacher),
            ("district counselor", &self.counselor),
            ("school admin", &self.school_admin),
            ("school member", &self.member),
            ("sibling-school admin", &self.sibling_admin),
        ]
    }
}

/// Records a detection in `session` as `token` (the service account, usually); asserts 200.
pub async fn detect(app: &TestApp, token: &str, session: &str, detection: Value) {
    let (status, body) = crate::http::send(
        app,
        token,
        reqwest::Method::POST,
        &format!("/learning-sessions/{session}/detections"),
        Some(detection.clone()),
    )
    .await;
    assert_eq!(status, 200, "record {detection}: {body}");
}
