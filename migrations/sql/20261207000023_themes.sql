-- Read model of the `themes` projection: the theme values each group and class sets itself
-- (`group.theme_set`, `class.theme_set`). A null value is not set there: it is inherited.
-- Inheritance is resolved when a theme is read, along the directory's group paths
-- (`groups.path`, `classes.group_id`), so a moved group or class inherits from its new
-- place as soon as the directory has the move, without rewriting any row here.
CREATE TABLE themes (
    owner_kind    text        NOT NULL CHECK (owner_kind IN ('group', 'class')),
    owner_id      uuid        NOT NULL,
    display_name  text,
    primary_color text,
    accent_color  text,
    logo_url      text,
    updated_at    timestamptz NOT NULL,
    -- The sequence of the owner's stream event that set it: a replayed event is skipped.
    version       bigint      NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);
